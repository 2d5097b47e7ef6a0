// Video tiles: one per person on screen, keyed so a re-render never recreates a playing
// <video>. A tile shows the participant's video when a subscribe slot points at them (or my
// own preview on my tile), and their initials otherwise; the name is always on the tile.
// My own tile also says whether anyone sees and hears me.

import { h, initials, setText } from "../dom.js";
import { liveStatus } from "./live.js";

/** Badges for a muted microphone and a camera that is off (tiles, lists, the console). */
export function muteBadges(micOff, camOff) {
  return [
    micOff ? h("span", { class: "badge mic-off", title: "Microphone off" }, "muted") : null,
    camOff ? h("span", { class: "badge cam-off", title: "Camera off" }, "camera off") : null,
  ].filter(Boolean);
}

export class TileGrid {
  constructor(root, app) {
    this.root = root;
    this.app = app;
    this.tiles = new Map(); // key -> {el, video, avatar, name, label, badges, spec}
    app.addEventListener("media", () => this.refreshMedia());
    app.addEventListener("speaking", () => this.refreshSpeaking());
    // Mute and camera-off of others arrive as participant updates.
    app.store.addEventListener("change", (e) => {
      if (e.detail.has("people")) this.refreshMedia();
    });
  }

  /**
   * specs: [{key, participantId, name, label, isMe, empty, emptyText}], in display order.
   */
  update(specs) {
    const keys = new Set(specs.map((s) => s.key));
    for (const [key, tile] of this.tiles) {
      if (!keys.has(key)) {
        tile.video.srcObject = null;
        tile.el.remove();
        this.tiles.delete(key);
      }
    }
    specs.forEach((spec, index) => {
      let tile = this.tiles.get(spec.key);
      if (!tile) {
        tile = this._create();
        this.tiles.set(spec.key, tile);
      }
      tile.spec = spec;
      this._fill(tile);
      // Only move a tile when it is out of place: moving a node is cheap, but not free.
      if (this.root.children[index] !== tile.el) {
        this.root.insertBefore(tile.el, this.root.children[index] || null);
      }
    });
    this.root.dataset.count = String(specs.length);
    this.refreshMedia();
    this.refreshSpeaking();
  }

  _create() {
    const video = h("video", { autoplay: true, playsinline: true, muted: true });
    const avatar = h("div", { class: "avatar", "aria-hidden": "true" });
    const name = h("span", { class: "tile-name" });
    const label = h("span", { class: "tile-label" });
    const badges = h("span", { class: "tile-badges" });
    // Silent here: the top bar announces the same sentence.
    const live = h("p", { class: "tile-live", hidden: true });
    const el = h(
      "figure",
      { class: "tile" },
      h("div", { class: "tile-media" }, video, avatar),
      live,
      h("figcaption", null, label, name, badges),
    );
    return { el, video, avatar, name, label, badges, live, spec: null };
  }

  _fill(tile) {
    const spec = tile.spec;
    const el = tile.el;
    el.classList.toggle("empty", Boolean(spec.empty));
    el.classList.toggle("me", Boolean(spec.isMe));
    if (spec.participantId) el.dataset.participantId = spec.participantId;
    else delete el.dataset.participantId;
    if (spec.slotIndex !== undefined) el.dataset.slotIndex = String(spec.slotIndex);
    el.dataset.key = spec.key;
    const name = spec.empty ? spec.emptyText || "Free" : spec.isMe ? `${spec.name} (you)` : spec.name;
    setText(tile.name, name);
    setText(tile.label, spec.label || "");
    tile.label.hidden = !spec.label;
    setText(tile.avatar, spec.empty ? "" : initials(spec.name));
    el.setAttribute("aria-label", [spec.label, name].filter(Boolean).join(": "));
  }

  refreshMedia() {
    const { local, media } = this.app;
    for (const tile of this.tiles.values()) {
      const spec = tile.spec;
      let micOff = false;
      let camOff = false;
      if (spec.isMe) {
        micOff = local.micMuted || !local.audioTrack;
      } else if (!spec.empty && spec.participantId) {
        const person = this.app.store.person(spec.participantId);
        micOff = Boolean(person?.muted_audio);
        camOff = Boolean(person?.muted_video);
      }
      let stream = null;
      if (!spec.empty && spec.isMe) stream = local.hasVideo ? local.stream : null;
      else if (!spec.empty && spec.participantId && media && !camOff) {
        // A camera that is off shows the initials, not its last frame frozen.
        stream = media.videoFor(spec.participantId);
      }
      if (tile.video.srcObject !== stream) {
        tile.video.srcObject = stream;
        if (stream) tile.video.play().catch(() => {});
      }
      tile.el.classList.toggle("has-video", Boolean(stream));
      // My own preview is mirrored, as in a mirror; others are shown as they are.
      tile.el.classList.toggle("mirrored", Boolean(stream && spec.isMe));
      const badges = `${micOff}/${camOff}`;
      if (tile.badgeState !== badges) {
        tile.badgeState = badges;
        tile.badges.replaceChildren(...muteBadges(micOff, camOff));
      }
      tile.el.classList.toggle("mic-muted", micOff);
      tile.el.classList.toggle("camera-off", camOff);
      this._renderLive(tile);
    }
  }

  _renderLive(tile) {
    const { local, media } = this.app;
    const show = Boolean(tile.spec.isMe && !tile.spec.empty && local.state === "on");
    tile.live.hidden = !show;
    if (!show) return;
    const live = liveStatus(local, media);
    tile.live.dataset.state = live.state;
    setText(tile.live, live.text);
  }

  refreshSpeaking() {
    const { local, media } = this.app;
    for (const tile of this.tiles.values()) {
      const spec = tile.spec;
      const speaking = spec.empty
        ? false
        : spec.isMe
          ? local.speaking
          : Boolean(media?.speaking.has(spec.participantId));
      tile.el.classList.toggle("speaking", speaking);
    }
  }
}
