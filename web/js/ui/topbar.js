// The bar at the top: event, where I am, connection state, my microphone and camera, and me.

import { $, h, replaceChildren, setText } from "../dom.js";
import { DeviceDialog } from "./devices.js";
import { liveStatus } from "./live.js";

const STATUS_TEXT = {
  idle: "Not connected",
  connecting: "Connecting…",
  online: "Connected",
  reconnecting: "Reconnecting…",
  replaced: "Open elsewhere",
  unauthorized: "Signed out",
  removed: "Removed",
  closed: "Signed out",
};

export class TopBar {
  constructor(app) {
    this.app = app;
    this.title = $("#event-title");
    this.where = $("#top-where");
    this.conn = $("#top-conn");
    this.mediaBox = $("#top-media");
    this.user = $("#top-user");

    // A short status that never changes the bar's width much; the banner under the bar
    // explains a drop and offers "Retry now".
    this.connDot = h("span", { class: "dot", "aria-hidden": "true" });
    this.connText = h("span", { class: "conn-text" });
    replaceChildren(this.conn, this.connDot, this.connText);

    this.micButton = h("button", { type: "button", class: "toggle", id: "mic-toggle" });
    this.camButton = h("button", { type: "button", class: "toggle", id: "camera-toggle" });
    this.devicesButton = h(
      "button",
      { type: "button", class: "icon", id: "devices-open", "aria-haspopup": "dialog" },
      "Devices",
    );
    this.mediaState = h("span", { class: "media-state", role: "status" });
    // Whether anyone sees and hears me, in a few words: the page's one announcement of it.
    // My tile and the stage preview say the same in a whole sentence, silently.
    this.liveDot = h("span", { class: "dot", "aria-hidden": "true" });
    this.liveText = h("span", { class: "live-text" });
    this.live = h(
      "span",
      { class: "live-state", id: "live-state", role: "status", "aria-live": "polite", "aria-atomic": "true" },
      this.liveDot,
      this.liveText,
    );
    this.micButton.addEventListener("click", () => this._toggleMic());
    // Do what the button says: "Camera on" also when the camera is merely not running yet
    // (blocked at first, say), not only after "Camera off".
    this.camButton.addEventListener("click", () => app.local.setCameraOff(app.local.hasVideo));
    this.devices = new DeviceDialog(app);
    this.devicesButton.addEventListener("click", () => this.devices.open());
    replaceChildren(
      this.mediaBox,
      this.micButton,
      this.camButton,
      this.devicesButton,
      this.live,
      this.mediaState,
    );

    this.userName = h("span", { class: "user-name" });
    this.userRole = h("span", { class: "badge" });
    const signOut = h("button", { type: "button", class: "link" }, "Sign out");
    signOut.addEventListener("click", () => app.signOut());
    replaceChildren(this.user, this.userName, this.userRole, signOut);

    app.store.addEventListener("change", (e) => this._render(e.detail));
    app.addEventListener("status", () => this._renderStatus());
    app.addEventListener("media", () => this._renderMedia());
    this._renderStatus();
    this._renderMedia();
  }

  _toggleMic() {
    const local = this.app.local;
    if (local.state !== "on") local.start();
    else local.setMicMuted(!local.micMuted);
  }

  _render(parts) {
    const store = this.app.store;
    if (parts.has("event") && store.event) {
      setText(this.title, store.event.title);
      document.title = `${store.event.title} · Podium`;
    }
    if (parts.has("me") || parts.has("space")) {
      this.user.hidden = !store.me;
      this.mediaBox.hidden = !store.me;
      if (store.me) {
        setText(this.userName, store.me.name);
        setText(this.userRole, store.me.role);
        this.userRole.hidden = store.me.role === "attendee";
      }
      setText(this.where, store.space ? store.space.title : "");
    }
  }

  _renderStatus() {
    const conn = this.app.conn;
    const status = conn?.status || "idle";
    this.conn.dataset.status = status;
    const text = STATUS_TEXT[status] || status;
    setText(this.connText, status === "connecting" && conn?.attempt ? "Reconnecting…" : text);
  }

  _renderMedia() {
    const local = this.app.local;
    const on = local.state === "on";
    const micOn = on && !local.micMuted && local.audioTrack;
    setText(this.micButton, micOn ? "Mute" : on ? "Unmute" : "Microphone");
    this.micButton.setAttribute("aria-pressed", String(Boolean(micOn)));
    this.micButton.setAttribute("aria-label", micOn ? "Mute microphone" : "Unmute microphone");
    this.micButton.classList.toggle("off", !micOn);
    const camOn = local.hasVideo;
    setText(this.camButton, camOn ? "Camera off" : "Camera on");
    this.camButton.setAttribute("aria-pressed", String(camOn));
    this.camButton.setAttribute("aria-label", camOn ? "Turn camera off" : "Turn camera on");
    this.camButton.classList.toggle("off", !camOn);
    const problems = {
      starting: "Starting camera…",
      denied: "Camera blocked",
      missing: "No camera found",
      unsupported: "No camera here",
      error: "Camera problem",
    };
    const text = problems[local.state] || "";
    setText(this.mediaState, text);
    this.mediaState.title = local.error || "";
    // While the camera cannot start, the problem above says all there is to say.
    const live = liveStatus(local, this.app.media);
    this.live.dataset.state = live.state;
    this.live.hidden = !on;
    this.live.title = on ? live.text : "";
    setText(this.liveText, on ? live.short : "");
  }
}
