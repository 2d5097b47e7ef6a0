// One websocket to the signaling server, kept alive across drops.
//
// The connection signs in with `hello` and the stored token, answers requests with promises
// (resolved by `ack`, rejected by `error`) and reconnects by itself with a growing delay when
// the socket drops, sending `hello` again with the same token: the server keeps a dropped
// participant's place (space, raised hand, Q&A slot) for a grace period.

import { ProtocolMismatch } from "./protocol.js";

// Close codes chosen by the server (signaling/server/session.py).
export const CLOSE_REPLACED = 4000;
export const CLOSE_UNAUTHORIZED = 4001;
export const CLOSE_HELLO_TIMEOUT = 4002;
export const CLOSE_REMOVED = 4003;

const RETRY_DELAYS_MS = [300, 1000, 2000, 4000, 8000, 15000];
const KEEPALIVE_EVERY_MS = 10000;
const PONG_WAIT_MS = 15000;
const HELLO_WAIT_MS = 10000;

export class RequestError extends Error {
  constructor(code, message, field = null) {
    super(message);
    this.name = "RequestError";
    this.code = code;
    this.field = field;
  }
}

/**
 * Status values: "idle", "connecting" (socket or hello in flight), "online" (welcome received),
 * "reconnecting" (waiting to retry), and the final ones "replaced" (signed in elsewhere),
 * "unauthorized" (token refused), "removed" (by a moderator) and "closed" (signed out).
 */
export class Connection extends EventTarget {
  constructor(protocol, { url, token }) {
    super();
    this.protocol = protocol;
    this.url = url;
    this.token = token;
    this.status = "idle";
    this.detail = "";
    this.attempt = 0;
    this.retryAt = 0;
    this.connects = 0; // welcomes received on this page, for tests and diagnostics
    this.ws = null;
    this._nextId = 1;
    this._pending = new Map();
    this._retryTimer = 0;
    this._helloTimer = 0;
    this._helloError = null;
    this._pingSentAt = 0;
    this._keepalive = window.setInterval(() => this._checkAlive(), KEEPALIVE_EVERY_MS);
    window.addEventListener("online", () => this.retryNow());
  }

  connect() {
    this._clearTimers();
    if (this.ws) this._detach(this.ws);
    this._setStatus("connecting", this.attempt ? `attempt ${this.attempt + 1}` : "");
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (err) {
      this._dropped(`could not open the connection: ${err.message}`);
      return;
    }
    this.ws = ws;
    this._helloError = null;
    ws.onopen = () => {
      this._sendRaw({ type: "hello", token: this.token, protocol: this.protocol.version });
      this._helloTimer = window.setTimeout(
        () => this._dropped("the server did not answer the sign-in"),
        HELLO_WAIT_MS,
      );
    };
    ws.onmessage = (event) => this._receive(event.data);
    ws.onerror = () => {}; // a close event with the details always follows
    ws.onclose = (event) => this._closed(event);
  }

  /** Skip the wait and reconnect at once (after a network comes back, or on request). */
  retryNow() {
    if (this.status === "reconnecting") this.connect();
  }

  /** Close for good (sign out). */
  disconnect(status = "closed") {
    this._clearTimers();
    window.clearInterval(this._keepalive);
    if (this.ws) {
      this._detach(this.ws);
      this.ws.close(1000, "bye");
      this.ws = null;
    }
    this._failPending("the connection was closed");
    this._setStatus(status);
  }

  get online() {
    return this.status === "online";
  }

  /** Send a message; returns its request id. Throws when offline or when the schema says no. */
  send(message) {
    if (!this.online) throw new RequestError("offline", "Not connected right now; reconnecting…");
    const withId = { ...message, id: message.id ?? `c${this._nextId++}` };
    this.protocol.check(withId);
    this._sendRaw(withId);
    return withId.id;
  }

  /** Send a request and wait for its `ack` (resolves with `result`) or `error` (rejects). */
  request(message, timeoutMs = 10000) {
    return new Promise((resolve, reject) => {
      let id;
      try {
        id = this.send(message);
      } catch (err) {
        reject(err instanceof ProtocolMismatch ? new RequestError("invalid", err.message) : err);
        return;
      }
      const timer = window.setTimeout(() => {
        this._pending.delete(id);
        reject(new RequestError("timeout", "The server did not answer in time."));
      }, timeoutMs);
      this._pending.set(id, { resolve, reject, timer });
    });
  }

  _sendRaw(message) {
    this.ws.send(JSON.stringify(message));
  }

  _receive(data) {
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      return;
    }
    if (!message || typeof message.type !== "string") return;
    this._pingSentAt = 0;
    if (message.type === "welcome") {
      window.clearTimeout(this._helloTimer);
      this.attempt = 0;
      this.connects += 1;
      this._setStatus("online");
    } else if (this.status === "connecting" && message.type === "error") {
      this._helloError = message;
    }
    const pending = message.id != null ? this._pending.get(message.id) : undefined;
    if (pending && (message.type === "ack" || message.type === "error")) {
      this._pending.delete(message.id);
      window.clearTimeout(pending.timer);
      if (message.type === "ack") pending.resolve(message.result ?? null);
      else pending.reject(new RequestError(message.code, message.message, message.field));
      return;
    }
    if (message.type === "pong") return;
    this.dispatchEvent(new CustomEvent("message", { detail: message }));
  }

  _closed(event) {
    if (event.target !== this.ws) return;
    this.ws = null;
    const hello = this._helloError;
    if (event.code === CLOSE_REPLACED) {
      this._final("replaced", "Podium was opened in another tab or window.");
    } else if (event.code === CLOSE_REMOVED || hello?.code === "forbidden") {
      this._final("removed", hello?.message || event.reason || "");
    } else if (event.code === CLOSE_UNAUTHORIZED && hello?.code === "unauthorized") {
      this._final("unauthorized", hello.message);
    } else {
      this._dropped(event.reason || `connection lost (code ${event.code})`);
    }
  }

  _final(status, detail) {
    this._clearTimers();
    this._failPending(detail || status);
    this._setStatus(status, detail);
  }

  _dropped(reason) {
    this._clearTimers();
    if (this.ws) {
      this._detach(this.ws);
      try {
        this.ws.close(4000, "reconnecting");
      } catch {
        // Already closing.
      }
      this.ws = null;
    }
    this._failPending("The connection dropped before the server answered.");
    const delay = RETRY_DELAYS_MS[Math.min(this.attempt, RETRY_DELAYS_MS.length - 1)];
    const jittered = Math.round(delay * (0.8 + Math.random() * 0.4));
    this.attempt += 1;
    this.retryAt = Date.now() + jittered;
    this._setStatus("reconnecting", reason);
    this._retryTimer = window.setTimeout(() => this.connect(), jittered);
  }

  _checkAlive() {
    if (!this.online || !this.ws) return;
    const now = Date.now();
    if (this._pingSentAt && now - this._pingSentAt > PONG_WAIT_MS) {
      this._dropped("the server stopped answering");
    } else if (!this._pingSentAt) {
      this._pingSentAt = now;
      this._sendRaw({ type: "ping" });
    }
  }

  _detach(ws) {
    ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
  }

  _failPending(reason) {
    for (const { reject, timer } of this._pending.values()) {
      window.clearTimeout(timer);
      reject(new RequestError("offline", reason));
    }
    this._pending.clear();
  }

  _clearTimers() {
    window.clearTimeout(this._retryTimer);
    window.clearTimeout(this._helloTimer);
    this._pingSentAt = 0;
  }

  _setStatus(status, detail = "") {
    this.status = status;
    this.detail = detail;
    this.dispatchEvent(new CustomEvent("status", { detail: { status, detail } }));
  }
}
