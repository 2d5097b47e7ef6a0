// Podium's browser client: the entry point. Loads the protocol schema, signs in, and wires
// the connection, the state store, the media and the views together. Moving between spaces
// only swaps views inside this page; it never reloads it or reconnects.

import { $, $$ } from "./js/dom.js";
import { Protocol } from "./js/protocol.js";
import { Connection } from "./js/connection.js";
import { Store } from "./js/store.js";
import { LocalMedia, MediaSession } from "./js/media.js";
import { Toasts } from "./js/ui/toasts.js";
import { TopBar } from "./js/ui/topbar.js";
import { Notices } from "./js/ui/notices.js";
import { RegisterView } from "./js/ui/register.js";
import { EndedView } from "./js/ui/ended.js";
import { Agenda } from "./js/ui/agenda.js";
import { SpaceView } from "./js/ui/space.js";
import { SidePanel } from "./js/ui/side.js";

const TOKEN_KEY = "podium.token";

function loadToken() {
  try {
    return localStorage.getItem(TOKEN_KEY) || "";
  } catch {
    return "";
  }
}

function saveToken(token) {
  try {
    if (token) localStorage.setItem(TOKEN_KEY, token);
    else localStorage.removeItem(TOKEN_KEY);
  } catch {
    // Private mode: the token lasts as long as the page.
  }
}

export class App extends EventTarget {
  constructor() {
    super();
    this.protocol = null;
    this.conn = null;
    this.store = new Store();
    this.local = new LocalMedia();
    this.media = null;
    this.toasts = new Toasts($("#toasts"));
    this.view = "loading";
    this.token = "";
    this._ui = false;
    this._mediaStarted = false;
    this._mediaTakenOver = false;
    this._removedReason = "";
  }

  async boot() {
    try {
      this.protocol = await Protocol.load();
    } catch (err) {
      this.showLoading(`Podium could not start: ${err.message}. Reload the page to try again.`, true);
      return;
    }
    const params = new URLSearchParams(location.search);
    const fromUrl = params.get("token");
    if (fromUrl) {
      // A moderator link: keep the token, but take it out of the address bar and history.
      saveToken(fromUrl.trim());
      params.delete("token");
      const query = params.toString();
      history.replaceState(null, "", location.pathname + (query ? `?${query}` : "") + location.hash);
    }
    this.register = new RegisterView($("#view-register"), this);
    this.ended = new EndedView($("#view-ended"), this);
    const token = loadToken();
    if (token) this.startSession(token);
    else this.showRegister();
  }

  _buildUi() {
    if (this._ui) return;
    this._ui = true;
    this.topbar = new TopBar(this);
    this.notices = new Notices($("#notices"), this);
    this.lobby = new Agenda($("#view-lobby"), this, { asLobby: true });
    this.spaceView = new SpaceView($("#view-space"), this);
    this.side = new SidePanel($("#side"), this);
    this.store.addEventListener("change", (e) => this._route(e.detail));
    window.setInterval(() => this.dispatchEvent(new Event("tick")), 1000);
    window.setInterval(() => this._sampleSpeaking(), 300);
  }

  /** Sign in with a token: open the websocket; the welcome and snapshot drive the views. */
  startSession(token) {
    this.token = token;
    saveToken(token);
    this._buildUi();
    if (this.conn) this.conn.disconnect("closed");
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    this.conn = new Connection(this.protocol, { url: `${scheme}${location.host}/ws`, token });
    if (!this.media) {
      this.media = new MediaSession(this.conn, this.local, $("#audio-sink"));
      this.media.addEventListener("change", () => this.dispatchEvent(new Event("media")));
      this.local.addEventListener("change", () => this.dispatchEvent(new Event("media")));
    } else {
      this.media.setConnection(this.conn);
    }
    this.conn.addEventListener("status", (e) => this._onStatus(e.detail));
    this.conn.addEventListener("message", (e) => this._onMessage(e.detail));
    this.showLoading("Connecting to the event…");
    this.conn.connect();
  }

  signOut() {
    saveToken("");
    if (this.conn) this.conn.disconnect("closed");
    // A clean slate for the next person on this device.
    location.assign("/");
  }

  _onStatus({ status, detail }) {
    this.dispatchEvent(new CustomEvent("status", { detail: { status, detail } }));
    if (status === "unauthorized") {
      saveToken("");
      this.showRegister(`Your sign-in was refused (${detail}). Please enter your name again.`);
    } else if (status === "removed") {
      saveToken("");
      this.local.stream.getTracks().forEach((t) => t.stop());
      // Only the moderator's own words are worth repeating; the close reason is generic.
      this.ended.show("removed", this._removedReason);
      this.showView("ended");
    } else if (status === "replaced") {
      // The other tab negotiated media of its own, which replaced this page's on the server.
      this._mediaTakenOver = true;
      this.ended.show("replaced");
      this.showView("ended");
    }
  }

  _onMessage(msg) {
    if (msg.type.startsWith("media_")) {
      this.media.handle(msg);
      return;
    }
    const previousSpace = this.store.space?.id;
    this.store.apply(msg);
    switch (msg.type) {
      case "welcome":
        // The server starts everyone unmuted; tell it if this page is muted (a saved choice,
        // or a change made while the connection was down).
        this.media.syncMute(msg.participant);
        if (!this._mediaStarted) {
          // Preview first, so the publish offer already carries the camera and microphone.
          this._mediaStarted = true;
          this.local.start().finally(() => this.media.start());
        } else if (this._mediaTakenOver) {
          this._mediaTakenOver = false;
          this.media.restart();
        } else if (this.media.state === "unavailable") {
          // Reconnected: the server may have gained its media plane since.
          this.media.start();
        } else if (this.media.broken) {
          // The server lost our media connections (a restart, say): negotiate them again.
          this.media.restart();
        }
        break;
      case "moved": {
        // Rounds move people too (the moderator who opened or closed it is `by`).
        const spaces = this.store.spaces;
        const where = this.store.spaceTitle(msg.space_id);
        const leftRoom =
          previousSpace && (!spaces.has(previousSpace) || spaces.get(previousSpace).round_id);
        if (spaces.get(msg.space_id)?.round_id) {
          this.toasts.show(`Discussion round: you are in ${where}.`);
        } else if (leftRoom) {
          this.toasts.show(`The round is over: back to ${where}.`);
        } else if (msg.by) {
          this.toasts.show(`${msg.by} moved you to ${where}.`);
        } else {
          this.toasts.show(`You are now in ${where}.`);
        }
        break;
      }
      case "mute_request":
        this.notices.muteRequest(msg);
        break;
      case "removed":
        this._removedReason = msg.reason || "";
        break;
      case "error":
        this.toasts.show(msg.message, "error");
        break;
      default:
        break;
    }
  }

  _route(parts) {
    if (!["removed", "replaced"].includes(this.conn?.status) && this.store.space) {
      this.showView(this.store.space.kind === "lobby" ? "lobby" : "space");
    }
    if (parts.has("moved")) {
      const heading = $(`#view-${this.view} h1`);
      if (heading) heading.focus({ preventScroll: false });
    }
  }

  _sampleSpeaking() {
    if (!this.media) return;
    const wasSpeaking = this.local.speaking;
    this.local.sample();
    const remote = this.media.sampleSpeaking();
    if (remote || wasSpeaking !== this.local.speaking) {
      this.dispatchEvent(new Event("speaking"));
    }
    this.dispatchEvent(new Event("level"));
  }

  showView(name) {
    if (this.view === name) return;
    this.view = name;
    document.body.dataset.view = name;
    for (const section of $$("main > .view")) section.hidden = section.id !== `view-${name}`;
    $("#side").hidden = !(name === "lobby" || name === "space");
    this.dispatchEvent(new Event("view"));
  }

  showLoading(text, failed = false) {
    const section = $("#view-loading");
    const line = section.querySelector(".loading");
    line.textContent = text;
    line.classList.toggle("error", failed);
    section.setAttribute("aria-busy", String(!failed));
    this.showView("loading");
  }

  showRegister(error = "") {
    this.register.show(error);
    this.showView("register");
  }

  // ---------------------------------------------------------------- actions used by views

  /** Send a request; show its error (or `success`) as a toast. Resolves to the ack result. */
  async act(message, success = "") {
    try {
      const result = await this.conn.request(message);
      if (success) this.toasts.show(success);
      return result;
    } catch (err) {
      this.toasts.show(err.message || String(err), "error");
      return undefined;
    }
  }

  join(spaceId) {
    if (this.store.space?.id === spaceId) return Promise.resolve(null);
    return this.act({ type: "join", space_id: spaceId });
  }

  leave() {
    return this.act({ type: "leave" });
  }
}

const app = new App();
// A handle for diagnostics and the browser tests (state, connection count, negotiations).
window.podium = app;
app.boot();
