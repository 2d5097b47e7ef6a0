// Banners under the top bar: a dropped connection, a moderator's broadcast to the round's
// rooms, and a moderator's request to mute. They stay until dealt with.

import { formatClock, h, replaceChildren, setText } from "../dom.js";

export class Notices {
  constructor(root, app) {
    this.root = root;
    this.app = app;
    this.connBanner = h("div", { class: "notice notice-warn", role: "status", hidden: true });
    this.connText = h("span");
    const retry = h("button", { type: "button" }, "Retry now");
    retry.addEventListener("click", () => app.conn?.retryNow());
    this.connBanner.append(this.connText, retry);

    this.broadcastBanner = h("div", {
      class: "notice notice-broadcast",
      role: "alert",
      id: "broadcast-banner",
      hidden: true,
    });
    this.broadcastText = h("p", { class: "broadcast-text" });
    this.broadcastMeta = h("p", { class: "broadcast-meta" });
    const dismiss = h("button", { type: "button", "aria-label": "Dismiss the broadcast" }, "Dismiss");
    dismiss.addEventListener("click", () => {
      this._dismissed = this._broadcastKey();
      this.broadcastBanner.hidden = true;
    });
    this.broadcastBanner.append(
      h("div", null, h("strong", null, "Message to all rooms"), this.broadcastText, this.broadcastMeta),
      dismiss,
    );

    this.muteBanner = h("div", { class: "notice notice-ask", role: "alert", hidden: true });
    replaceChildren(root, this.connBanner, this.broadcastBanner, this.muteBanner);
    this._dismissed = "";
    this._wasOnline = false;

    app.addEventListener("status", () => this._renderConn());
    app.addEventListener("tick", () => this._renderConn());
    app.store.addEventListener("change", (e) => {
      if (e.detail.has("broadcast")) this._renderBroadcast();
    });
  }

  _renderConn() {
    const conn = this.app.conn;
    if (conn?.status === "online") this._wasOnline = true;
    const show = this._wasOnline && (conn?.status === "reconnecting" || conn?.status === "connecting");
    this.connBanner.hidden = !show;
    if (!show) return;
    const wait = Math.max(0, Math.ceil((conn.retryAt - Date.now()) / 1000));
    setText(
      this.connText,
      conn.status === "connecting" || wait === 0
        ? "Connection lost. Reconnecting now…"
        : `Connection lost. Reconnecting in ${wait} s. You keep your place for a while.`,
    );
  }

  _broadcastKey() {
    const b = this.app.store.broadcast;
    return b ? `${b.round_id}:${b.sent_at}:${b.text}` : "";
  }

  _renderBroadcast() {
    const b = this.app.store.broadcast;
    const key = this._broadcastKey();
    this.broadcastBanner.hidden = !b || key === this._dismissed;
    if (!b) return;
    setText(this.broadcastText, b.text);
    setText(this.broadcastMeta, `${b.sender_name} · ${formatClock(b.sent_at)}`);
  }

  /** A moderator asks me to mute my microphone (`audio`) or turn off my camera (`video`). */
  muteRequest(msg) {
    const app = this.app;
    const what = msg.kind === "audio" ? "mute your microphone" : "turn off your camera";
    const doIt = h("button", { type: "button", class: "primary" }, msg.kind === "audio" ? "Mute now" : "Turn camera off");
    const ignore = h("button", { type: "button" }, "Not now");
    doIt.addEventListener("click", () => {
      if (msg.kind === "audio") app.local.setMicMuted(true);
      else app.local.setCameraOff(true);
      this.muteBanner.hidden = true;
    });
    ignore.addEventListener("click", () => {
      this.muteBanner.hidden = true;
    });
    replaceChildren(
      this.muteBanner,
      h("span", null, `${msg.by || "A moderator"} asks you to ${what}.`),
      doIt,
      ignore,
    );
    this.muteBanner.hidden = false;
    doIt.focus();
  }
}
