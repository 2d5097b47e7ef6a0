// Camera, microphone and the two WebRTC connections to the SFU.
//
// LocalMedia owns the user's devices: preview, mute, camera off, device choice. Its
// MediaStream object never changes; tracks are swapped inside it, and the publish connection
// swaps them with replaceTrack, so none of this renegotiates.
//
// MediaSession negotiates once per page: a publish connection (this browser offers its
// camera and microphone, `media_offer` kind "publish", answered by `media_answer`) and a
// subscribe connection (the server offers a fixed set of send-only slots, `media_offer` kind
// "subscribe", and we answer with `media_answer`). A browser that cannot capture at all asks
// for the subscribe connection alone with `media_subscribe`. The server says which
// participant each slot shows in `media_slots` (by transceiver mid); moving between spaces,
// promotions and speaker changes only change that mapping. A server without a media plane
// answers `not_ready`: the session is then "unavailable" and the preview keeps working.
//
// The page sends only what someone receives. The server says in `media_watched` whether
// anyone receives the camera and the microphone; a track nobody receives is paused by
// setting its sender's encoding inactive, which needs no negotiation, and resumed the same
// way. The camera keeps running meanwhile, so the preview stays live. Until the server has
// said anything about a publish connection, that connection sends.

const PREFS_KEY = "podium.media";
const ICE_GATHER_TIMEOUT_MS = 3000;
// The server reports a lost media connection once per connection, both in one burst: wait
// this long so the burst starts a single new negotiation.
const RECONNECT_DEBOUNCE_MS = 250;
const SPEAKING_LEVEL = 0.04;

function loadPrefs() {
  try {
    return JSON.parse(localStorage.getItem(PREFS_KEY) || "{}") || {};
  } catch {
    return {};
  }
}

function describeError(err) {
  switch (err?.name) {
    case "NotAllowedError":
    case "SecurityError":
      return ["denied", "Camera and microphone access was blocked. Allow it in the browser's site settings, then try again."];
    case "NotFoundError":
    case "OverconstrainedError":
      return ["missing", "No camera or microphone was found."];
    case "NotReadableError":
    case "AbortError":
      return ["error", "The camera or microphone is in use by another application."];
    default:
      return ["error", `The camera could not start (${err?.message || err}).`];
  }
}

export class LocalMedia extends EventTarget {
  constructor() {
    super();
    const prefs = loadPrefs();
    this.stream = new MediaStream();
    // "off" (not started), "starting", "on", "denied", "missing", "unsupported", "error"
    this.state = "off";
    this.error = "";
    this.micMuted = Boolean(prefs.micMuted);
    this.cameraOff = Boolean(prefs.cameraOff);
    this.choice = { audioinput: prefs.audioinput || "", videoinput: prefs.videoinput || "" };
    this.devices = { audioinput: [], videoinput: [] };
    this.level = 0;
    this.speaking = false;
    this._audioContext = null;
    this._analyser = null;
    if (navigator.mediaDevices?.addEventListener) {
      navigator.mediaDevices.addEventListener("devicechange", () => this.refreshDevices());
    }
  }

  get supported() {
    return Boolean(navigator.mediaDevices?.getUserMedia);
  }

  get audioTrack() {
    return this.stream.getAudioTracks()[0] || null;
  }

  get videoTrack() {
    return this.stream.getVideoTracks()[0] || null;
  }

  get hasVideo() {
    const track = this.videoTrack;
    return Boolean(track && track.readyState === "live" && !this.cameraOff);
  }

  _savePrefs() {
    const prefs = { micMuted: this.micMuted, cameraOff: this.cameraOff, ...this.choice };
    try {
      localStorage.setItem(PREFS_KEY, JSON.stringify(prefs));
    } catch {
      // Private mode: preferences last for this page only.
    }
  }

  _constraint(kind) {
    const id = this.choice[kind];
    const base = kind === "videoinput" ? { width: { ideal: 640 }, height: { ideal: 360 } } : {};
    return id ? { ...base, deviceId: { exact: id } } : kind === "videoinput" ? base : true;
  }

  /** Ask for the camera and microphone (the camera only if it is not switched off). */
  async start() {
    if (!this.supported) {
      this._setState("unsupported", "This browser cannot use a camera here (it needs HTTPS or localhost).");
      return;
    }
    if (this.state === "starting") return;
    this._setState("starting");
    const wantVideo = !this.cameraOff;
    let stream = null;
    let failure = null;
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        audio: this._constraint("audioinput"),
        video: wantVideo ? this._constraint("videoinput") : false,
      });
    } catch (err) {
      failure = err;
      if (err?.name === "OverconstrainedError" || err?.name === "NotFoundError") {
        // A remembered device is gone, or one of the two is missing: try each on its own.
        this.choice = { audioinput: "", videoinput: "" };
        stream = new MediaStream();
        for (const kind of wantVideo ? ["audio", "video"] : ["audio"]) {
          try {
            const one = await navigator.mediaDevices.getUserMedia({ [kind]: true });
            one.getTracks().forEach((t) => stream.addTrack(t));
          } catch (inner) {
            failure = inner;
          }
        }
        if (!stream.getTracks().length) stream = null;
      }
    }
    if (!stream) {
      const [state, message] = describeError(failure);
      this._setState(state, message);
      return;
    }
    const audio = stream.getAudioTracks()[0] || null;
    const video = stream.getVideoTracks()[0] || null;
    if (audio) this._useTrack("audio", audio);
    if (video) this._useTrack("video", video);
    await this.refreshDevices();
    this._setState("on", audio ? "" : "No microphone was found.");
  }

  /** Mute or unmute the microphone (instant: the track keeps running, disabled). */
  setMicMuted(muted) {
    this.micMuted = Boolean(muted);
    const track = this.audioTrack;
    if (track) track.enabled = !this.micMuted;
    this._savePrefs();
    this._emit("state");
    this.dispatchEvent(new CustomEvent("mute", { detail: { kind: "audio", muted: this.micMuted } }));
  }

  /** Switch the camera off (its light goes out) or back on. */
  async setCameraOff(off) {
    this.cameraOff = Boolean(off);
    this._savePrefs();
    if (this.cameraOff) {
      const track = this.videoTrack;
      if (track) {
        track.stop();
        this.stream.removeTrack(track);
      }
      this._emitTrack("video", null);
    } else if (this.state === "on" && !this.videoTrack) {
      try {
        const stream = await navigator.mediaDevices.getUserMedia({
          video: this._constraint("videoinput"),
        });
        this._useTrack("video", stream.getVideoTracks()[0]);
      } catch (err) {
        this.cameraOff = true;
        this.error = describeError(err)[1];
      }
    } else if (this.state !== "on") {
      await this.start();
    }
    this._emit("state");
    this.dispatchEvent(new CustomEvent("mute", { detail: { kind: "video", muted: this.cameraOff } }));
  }

  /** Use another camera or microphone; the new track replaces the old one everywhere. */
  async chooseDevice(kind, deviceId) {
    this.choice[kind] = deviceId;
    this._savePrefs();
    const isVideo = kind === "videoinput";
    if (this.state !== "on" || (isVideo && this.cameraOff)) {
      this._emit("state");
      return;
    }
    const stream = await navigator.mediaDevices.getUserMedia({
      [isVideo ? "video" : "audio"]: this._constraint(kind),
    });
    const track = isVideo ? stream.getVideoTracks()[0] : stream.getAudioTracks()[0];
    this._useTrack(isVideo ? "video" : "audio", track);
    this._emit("state");
  }

  async refreshDevices() {
    if (!navigator.mediaDevices?.enumerateDevices) return;
    const all = await navigator.mediaDevices.enumerateDevices();
    this.devices = {
      audioinput: all.filter((d) => d.kind === "audioinput"),
      videoinput: all.filter((d) => d.kind === "videoinput"),
    };
    for (const kind of ["audioinput", "videoinput"]) {
      const track = kind === "audioinput" ? this.audioTrack : this.videoTrack;
      const current = track?.getSettings?.().deviceId;
      if (current) this.choice[kind] = current;
    }
    this._emit("devices");
  }

  _useTrack(kind, track) {
    const old = kind === "audio" ? this.audioTrack : this.videoTrack;
    if (old && old !== track) {
      old.stop();
      this.stream.removeTrack(old);
    }
    if (kind === "audio") track.enabled = !this.micMuted;
    this.stream.addTrack(track);
    track.addEventListener("ended", () => {
      if (this.stream.getTracks().includes(track)) {
        this.stream.removeTrack(track);
        this.error = `The ${kind === "audio" ? "microphone" : "camera"} stopped.`;
        this._emitTrack(kind, null);
        this._emit("state");
      }
    });
    if (kind === "audio") this._meter(track);
    this._emitTrack(kind, track);
  }

  /** Measure the microphone level, for the meter and the "speaking" ring on my tile. */
  _meter(track) {
    try {
      this._audioContext ||= new AudioContext();
      const source = this._audioContext.createMediaStreamSource(new MediaStream([track]));
      this._analyser = this._audioContext.createAnalyser();
      this._analyser.fftSize = 512;
      source.connect(this._analyser);
    } catch {
      this._analyser = null;
    }
  }

  /** Current microphone level, 0..1 (0 while muted). */
  sample() {
    if (!this._analyser || this.micMuted || !this.audioTrack) {
      this.level = 0;
    } else {
      if (this._audioContext.state === "suspended") this._audioContext.resume().catch(() => {});
      const data = new Float32Array(this._analyser.fftSize);
      this._analyser.getFloatTimeDomainData(data);
      let sum = 0;
      for (const v of data) sum += v * v;
      this.level = Math.min(1, Math.sqrt(sum / data.length) * 4);
    }
    this.speaking = this.level > SPEAKING_LEVEL;
    return this.level;
  }

  _emitTrack(kind, track) {
    this.dispatchEvent(new CustomEvent("track", { detail: { kind, track } }));
  }

  _setState(state, error = "") {
    this.state = state;
    this.error = error;
    this._emit("state");
  }

  _emit(what) {
    this.dispatchEvent(new CustomEvent("change", { detail: what }));
  }
}

function waitForIce(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState !== "complete") return;
      pc.removeEventListener("icegatheringstatechange", done);
      resolve();
    };
    pc.addEventListener("icegatheringstatechange", done);
    // Send what was gathered so far rather than wait forever.
    window.setTimeout(resolve, ICE_GATHER_TIMEOUT_MS);
  });
}

export class MediaSession extends EventTarget {
  constructor(connection, local, audioSink) {
    super();
    this.conn = connection;
    this.local = local;
    this.audioSink = audioSink;
    // "idle", "negotiating", "connected", "unavailable" (no media server), "failed"
    this.state = "idle";
    this.detail = "";
    this.negotiations = { publish: 0, subscribe: 0 };
    this.publisher = null;
    this.subscriber = null;
    this.slots = new Map(); // mid -> {mid, kind, stream, receiver}: the receive slots
    this.assignments = new Map(); // mid -> media_slots entry: who each slot shows
    this.serverStates = {}; // "publish"/"subscribe" -> state reported by media_state
    this.speaking = new Set(); // participant ids whose slot carries voice right now
    this._senders = { audio: null, video: null };
    // What the server last said anyone receives ({video, audio}), or null before it said
    // anything about the current publish connection.
    this.watched = null;
    // Whether each sender's encoding is active, as last set on it.
    this._active = { audio: true, video: true };
    // setParameters calls on one sender must not overlap: each kind's run one after another.
    this._encodingQueue = { audio: Promise.resolve(), video: Promise.resolve() };
    this.watchOnly = false; // started with media_subscribe: nothing published (yet)
    this._publishQueued = false;
    this._reconnectTimer = 0;
    this._restarting = false;
    this._restartAgain = false;
    local.addEventListener("track", (e) => this._replace(e.detail.kind, e.detail.track));
    local.addEventListener("mute", (e) => this._announceMute(e.detail.kind, e.detail.muted));
  }

  setConnection(connection) {
    this.conn = connection;
  }

  /** Negotiate the publish connection, once. Safe to call again after `unavailable`. */
  async start() {
    if (!["idle", "unavailable", "failed"].includes(this.state)) return;
    if (typeof RTCPeerConnection === "undefined") {
      this._set("unavailable", "This browser has no WebRTC.");
      return;
    }
    this._set("negotiating");
    if (!this.local.supported || !this.local.stream.getTracks().length) {
      // Nothing to send (no camera API, or camera and microphone blocked or missing): watch
      // only. Turning the camera on later adds a publish connection beside this one.
      await this._subscribeOnly();
      return;
    }
    await this._publish(false);
  }

  /**
   * Offer the publish connection. `keepSubscribe`: the subscribe connection already runs
   * (started with `media_subscribe`); the server adds the publisher and leaves it alone.
   */
  async _publish(keepSubscribe) {
    const pc = new RTCPeerConnection({ iceServers: [], bundlePolicy: "max-bundle" });
    this.publisher = pc;
    // A new publish connection sends until the server says who receives it.
    this.watched = null;
    this._active = { audio: true, video: true };
    const streams = [this.local.stream];
    this._senders.audio = pc.addTransceiver(this.local.audioTrack || "audio", {
      direction: "sendonly",
      streams,
    }).sender;
    this._senders.video = pc.addTransceiver(this.local.hasVideo ? this.local.videoTrack : "video", {
      direction: "sendonly",
      streams,
    }).sender;
    pc.addEventListener("connectionstatechange", () => {
      this._watch(pc);
      // Whether anything leaves the page changed: the "you are live" line depends on it.
      this._emit("sending");
    });
    try {
      await pc.setLocalDescription(await pc.createOffer());
      await waitForIce(pc);
      this.negotiations.publish += 1;
      const offer = { type: "media_offer", kind: "publish", sdp: pc.localDescription.sdp };
      if (keepSubscribe) offer.keep_subscribe = true;
      await this.conn.request(offer, 15000);
    } catch (err) {
      if (this.publisher === pc && pc.remoteDescription) return; // answered; the ack was late
      pc.close();
      if (this.publisher === pc) this.publisher = null;
      this._senders = { audio: null, video: null };
      this._emit("sending");
      if (keepSubscribe) {
        // Others' video keeps coming; only sending failed.
        this.detail = `Your camera could not be sent: ${err.message || err}`;
        this._emit("state");
      } else {
        this._refused(err);
      }
    }
  }

  async _subscribeOnly() {
    this.watchOnly = true;
    try {
      await this.conn.request({ type: "media_subscribe" }, 15000);
    } catch (err) {
      if (!this.subscriber?.remoteDescription) this._refused(err);
    }
  }

  /**
   * A watch-only page got a camera or microphone (the viewer turned the camera on): add the
   * publish connection once, leaving the subscribe connection as it is.
   */
  _publishLater() {
    if (!this.watchOnly || this.publisher || this._publishQueued) return;
    if (!this.subscriber || !["connected", "negotiating"].includes(this.state)) return;
    // The microphone and camera tracks arrive one after the other: offer both together.
    this._publishQueued = true;
    queueMicrotask(() => {
      this._publishQueued = false;
      if (!this.publisher && this.local.stream.getTracks().length) this._publish(true);
    });
  }

  _refused(err) {
    if (err.code === "not_ready" || err.code === "unknown_type") {
      this._set("unavailable", "Video from others is not available yet: the media server is not running.");
    } else {
      this._set("failed", err.message || String(err));
    }
  }

  /**
   * Negotiate again from scratch, for connections that failed or a server that lost them
   * (after a restart). The server replaces the old endpoint on a new offer.
   */
  async restart() {
    // A lost connection reported from now on is answered by this restart or, if it comes
    // while this one negotiates, by one more after it (see _reconnectSoon).
    window.clearTimeout(this._reconnectTimer);
    this._reconnectTimer = 0;
    this._restarting = true;
    try {
      await this._renegotiate();
    } finally {
      this._restarting = false;
    }
    if (this._restartAgain) {
      this._restartAgain = false;
      this._reconnectSoon();
    }
  }

  async _renegotiate() {
    for (const pc of [this.publisher, this.subscriber]) if (pc) pc.close();
    this.publisher = null;
    this.subscriber = null;
    this.slots.clear();
    this.assignments.clear();
    if (this.audioSink) this.audioSink.replaceChildren();
    this._senders = { audio: null, video: null };
    this.watched = null;
    this.watchOnly = false;
    this.state = "idle";
    this._emit("slots");
    await this.start();
  }

  /**
   * The server lost our connections on its side (`media_state` "reconnect"): negotiate both
   * again. It says so for each connection; one restart answers the whole burst, and a burst
   * that arrives while a restart negotiates starts one more after it.
   */
  _reconnectSoon() {
    if (this.state === "idle") return; // nothing negotiated yet: start() is still to come
    if (this._restarting) {
      this._restartAgain = true;
      return;
    }
    if (this._reconnectTimer) return;
    this._reconnectTimer = window.setTimeout(() => {
      this._reconnectTimer = 0;
      this.restart();
    }, RECONNECT_DEBOUNCE_MS);
  }

  /** True when a connection was negotiated but is gone (failed or closed). */
  get broken() {
    return [this.publisher, this.subscriber].some(
      (pc) => pc && (pc.connectionState === "failed" || pc.connectionState === "closed"),
    );
  }

  /** Media messages from the server: SDP and the slot -> participant map. */
  async handle(msg) {
    try {
      if (msg.type === "media_answer" && msg.kind === "publish" && this.publisher) {
        await this.publisher.setRemoteDescription({ type: "answer", sdp: msg.sdp });
      } else if (msg.type === "media_offer" && msg.kind === "subscribe") {
        await this._subscribe(msg.sdp);
      } else if (msg.type === "media_slots") {
        this._assign(msg.slots || []);
      } else if (msg.type === "media_state") {
        this._serverState(msg);
      } else if (msg.type === "media_watched") {
        this._setWatched(msg);
      }
    } catch (err) {
      this._set("failed", `Media negotiation failed: ${err.message || err}`);
    }
  }

  async _subscribe(sdp) {
    let pc = this.subscriber;
    if (!pc) {
      pc = new RTCPeerConnection({ iceServers: [], bundlePolicy: "max-bundle" });
      this.subscriber = pc;
      pc.addEventListener("track", (e) => this._slotTrack(e));
      pc.addEventListener("connectionstatechange", () => this._watch(pc));
    }
    this.negotiations.subscribe += 1;
    await pc.setRemoteDescription({ type: "offer", sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    await waitForIce(pc);
    this.conn.send({ type: "media_answer", kind: "subscribe", sdp: pc.localDescription.sdp });
    // The camera came on while the subscribe connection was still being set up.
    if (this.watchOnly && this.local.stream.getTracks().length) this._publishLater();
  }

  _slotTrack(event) {
    const mid = event.transceiver?.mid ?? String(this.slots.size);
    const stream = new MediaStream([event.track]);
    const slot = { mid, kind: event.track.kind, stream, receiver: event.receiver };
    this.slots.set(mid, slot);
    if (slot.kind === "audio" && this.audioSink) {
      const audio = document.createElement("audio");
      audio.autoplay = true;
      audio.dataset.mid = mid;
      audio.srcObject = stream;
      this.audioSink.append(audio);
    }
    this._emit("slots");
  }

  /**
   * `slots`: [{slot_id, kind, mid, participant_id, name, role}] from `media_slots`. Kept by
   * mid apart from the tracks: the map may arrive before the browser has created them.
   */
  _assign(assignments) {
    this.assignments.clear();
    for (const a of assignments) {
      if (a.mid !== null && a.mid !== undefined) this.assignments.set(String(a.mid), a);
    }
    this._emit("slots");
  }

  _serverState(msg) {
    this.serverStates[msg.connection] = msg.state;
    if (msg.state === "reconnect") this._reconnectSoon();
    else if (msg.state === "connected" && this.state !== "connected") this._set("connected");
    else if (msg.state === "failed") this._set("failed", msg.reason || `the ${msg.connection} connection failed`);
    else if (msg.state === "closed") this._set("failed", msg.reason || `the ${msg.connection} connection closed`);
  }

  /** The participant a slot shows now, or null. */
  whoIn(mid) {
    return this.assignments.get(mid)?.participant_id ?? null;
  }

  /** The stream showing a participant's camera, or null when no slot points at them. */
  videoFor(participantId) {
    for (const [mid, a] of this.assignments) {
      if (a.kind !== "video" || a.participant_id !== participantId) continue;
      const slot = this.slots.get(mid);
      if (slot) return slot.stream;
    }
    return null;
  }

  /** Refresh `speaking` from the audio levels the browser reports for each audio slot. */
  sampleSpeaking() {
    const now = new Set();
    for (const [mid, slot] of this.slots) {
      const who = this.whoIn(mid);
      if (slot.kind !== "audio" || !who || !slot.receiver) continue;
      const sources = slot.receiver.getSynchronizationSources?.() || [];
      if (sources.some((s) => (s.audioLevel || 0) > SPEAKING_LEVEL)) now.add(who);
    }
    const changed = now.size !== this.speaking.size || [...now].some((p) => !this.speaking.has(p));
    this.speaking = now;
    return changed;
  }

  _replace(kind, track) {
    const sender = this._senders[kind];
    if (sender) {
      // The encoding's paused or active state belongs to the sender and survives the new
      // track; applying it again afterwards costs nothing and keeps it so in any case.
      sender
        .replaceTrack(track)
        .catch(() => {})
        .then(() => this._applyWatched(kind));
    } else if (track) this._publishLater();
  }

  /** `media_watched`: pause what nobody receives, resume what someone does. */
  _setWatched(msg) {
    this.watched = { video: Boolean(msg.video), audio: Boolean(msg.audio) };
    this._emit("sending");
    this._applyWatched("video");
    this._applyWatched("audio");
  }

  /**
   * Set the `kind` sender's encoding active or inactive, as the last `media_watched` wants.
   * Queued per sender, and the wanted state is read when the call runs, so quick changes
   * end on the latest one. A failure is logged and leaves the sender as it was.
   */
  _applyWatched(kind) {
    const sender = this._senders[kind];
    if (!sender) return Promise.resolve();
    const run = async () => {
      if (this._senders[kind] !== sender) return; // a newer publish connection took over
      const want = this.watched?.[kind] !== false;
      const params = sender.getParameters();
      const encodings = params.encodings || [];
      if (!encodings.length || encodings.every((e) => e.active === want)) {
        this._noteActive(kind, encodings.length ? want : this._active[kind]);
        return;
      }
      for (const encoding of encodings) encoding.active = want;
      try {
        await sender.setParameters(params);
      } catch (err) {
        console.warn(`Podium: could not ${want ? "resume" : "pause"} the ${kind} sender:`, err);
      }
      if (this._senders[kind] === sender) {
        this._noteActive(kind, sender.getParameters().encodings?.[0]?.active !== false);
      }
    };
    this._encodingQueue[kind] = this._encodingQueue[kind].then(run).catch((err) => {
      console.warn(`Podium: the ${kind} sender could not be updated:`, err);
    });
    return this._encodingQueue[kind];
  }

  _noteActive(kind, active) {
    if (this._active[kind] === active) return;
    this._active[kind] = active;
    this._emit("sending");
  }

  /**
   * Who gets this page's camera or microphone now (`kind` "video" or "audio"):
   * "nobody" (nothing leaves the page, or the server says nobody receives it), "unknown"
   * (it is sent; the server has not said whether anyone receives it) or "others".
   * Mute and camera-off are the LocalMedia's business, not this.
   */
  reach(kind) {
    const pc = this.publisher;
    const sender = this._senders[kind];
    if (!pc || pc.connectionState !== "connected" || !sender?.track) return "nobody";
    if (!this.watched) return this._active[kind] ? "unknown" : "nobody";
    return this.watched[kind] && this._active[kind] ? "others" : "nobody";
  }

  /** Tell the server our mute state where its copy (`info`, a ParticipantInfo) differs. */
  syncMute(info) {
    const mine = { audio: this.local.micMuted, video: this.local.cameraOff };
    const theirs = { audio: Boolean(info?.muted_audio), video: Boolean(info?.muted_video) };
    for (const kind of ["audio", "video"]) {
      if (mine[kind] !== theirs[kind]) this._announceMute(kind, mine[kind]);
    }
  }

  _announceMute(kind, muted) {
    if (this.conn?.online) {
      this.conn.request({ type: "media_mute", kind, muted }).catch(() => {});
    }
  }

  _watch(pc) {
    const state = pc.connectionState;
    if (state === "connected" && this.state !== "connected") this._set("connected");
    if (state === "failed") this._set("failed", "The media connection failed.");
  }

  _set(state, detail = "") {
    this.state = state;
    this.detail = detail;
    this._emit("state");
  }

  _emit(what) {
    this.dispatchEvent(new CustomEvent("change", { detail: what }));
  }
}
