// The client's picture of the event, kept up to date from server messages.
//
// `apply(message)` folds one server message into the state and records which parts changed;
// views subscribe to "change" and re-render only those parts. Nothing here touches the DOM.

const STAFF_ROLES = new Set(["moderator", "host"]);
const CHAT_KEEP = 300;

/** A ParticipantInfo with its default-valued fields (left out on the wire) filled in. */
export function participantInfo(info) {
  return { ...info, muted_audio: Boolean(info.muted_audio), muted_video: Boolean(info.muted_video) };
}

export class Store extends EventTarget {
  constructor() {
    super();
    this.me = null; // ParticipantInfo from welcome
    this.event = null; // {id, title, description}
    this.templates = []; // round templates [{id, title, room_count, duration_s, room_capacity}]
    this.spaces = new Map(); // id -> SpaceInfo (with live `participants`)
    this.space = null; // SpaceInfo of the space I am in
    this.you = null; // YouInfo
    this.members = null; // Map id -> ParticipantInfo, or null for spaces too large to list
    this.memberCount = 0;
    this.handQueue = null; // {stage_id, length, position, entries}
    this.slots = null; // {stage_id, slots: [{index, participant}], speakers: []}
    this.round = null; // RoundInfo plus `endsAt` (ms, by this page's clock)
    this.eventChat = [];
    this.spaceChat = [];
    this.broadcast = null; // the latest broadcast of the open round
    this.staffQueues = new Map(); // stage id -> hand_queue with entries (staff only)
    this.staffSlots = new Map(); // stage id -> slots (staff only)
    this.people = new Map(); // participants this client has heard of, for the console
    this.welcomed = false;
    this.clockOffsetMs = 0;
    this._dirty = new Set();
    this._scheduled = false;
  }

  get isStaff() {
    return STAFF_ROLES.has(this.me?.role);
  }

  get inStage() {
    return this.space?.kind === "stage";
  }

  get firstStageId() {
    for (const space of this.spaces.values()) if (space.kind === "stage") return space.id;
    return null;
  }

  spaceTitle(id) {
    return this.spaces.get(id)?.title || id;
  }

  changed(...parts) {
    for (const part of parts) this._dirty.add(part);
    if (!this._scheduled) {
      this._scheduled = true;
      queueMicrotask(() => {
        this._scheduled = false;
        const parts = this._dirty;
        this._dirty = new Set();
        this.dispatchEvent(new CustomEvent("change", { detail: parts }));
      });
    }
  }

  /** Fold one server message into the state. Returns true when it was understood. */
  apply(msg) {
    const handler = this[`_on_${msg.type}`];
    if (!handler) return false;
    handler.call(this, msg);
    return true;
  }

  _on_welcome(msg) {
    this.welcomed = true;
    // Server time minus local time, so waits and deadlines read right on a skewed clock.
    this.clockOffsetMs = msg.server_time * 1000 - Date.now();
    this.me = msg.participant;
    this.event = { id: msg.event.id, title: msg.event.title, description: msg.event.description };
    this.templates = msg.event.templates || [];
    this.spaces = new Map(msg.event.spaces.map((s) => [s.id, { ...s }]));
    // Every connection's first snapshot carries the event-wide chat history again.
    this.eventChat = [];
    this._know(msg.participant);
    this.changed("me", "event", "spaces", "templates");
  }

  _on_snapshot(msg) {
    const previous = this.space?.id;
    this.space = { ...msg.space };
    this.spaces.set(msg.space.id, { ...this.spaces.get(msg.space.id), ...msg.space });
    this.you = { ...msg.you };
    this.me = { ...this.me, space_id: msg.you.space_id, role: msg.you.role };
    this.members = msg.members ? new Map(msg.members.map((m) => [m.id, m])) : null;
    for (const m of msg.members || []) this._know(m);
    this.memberCount = msg.member_count;
    this.handQueue = msg.hand_queue ?? null;
    if (msg.hand_queue?.entries) this._staffQueue(msg.hand_queue);
    this.slots = msg.slots ?? null;
    if (msg.slots) this._staffSlots(msg.slots);
    this._setRound(msg.round ?? null);
    // Arriving in a room of the round (late, or after a reconnect): show its last broadcast.
    const said = msg.round?.broadcasts || [];
    if (msg.space.round_id && msg.space.round_id === msg.round?.id && said.length) {
      this.broadcast = { round_id: msg.round.id, ...said[said.length - 1] };
      this.changed("broadcast");
    }
    this.spaceChat = [];
    for (const c of msg.chat || []) this._addChat(c);
    this.changed("space", "members", "hand", "slots", "round", "chat", "spaces", "staff");
    if (previous !== msg.space.id) this.changed("moved");
  }

  _on_space_delta(msg) {
    const space = this.spaces.get(msg.space_id);
    if (space) space.participants = msg.member_count;
    if (this.space?.id !== msg.space_id) return;
    this.memberCount = msg.member_count;
    if (this.members) {
      for (const id of msg.left || []) this.members.delete(id);
      for (const m of msg.joined || []) {
        this.members.set(m.id, m);
        this._know(m);
      }
    }
    this.changed("members", "counts");
  }

  _on_counts(msg) {
    for (const [id, n] of Object.entries(msg.counts)) {
      const space = this.spaces.get(id);
      if (space) space.participants = n;
    }
    if (this.space && msg.counts[this.space.id] !== undefined) {
      this.memberCount = msg.counts[this.space.id];
    }
    this.changed("counts");
  }

  _on_hand_queue(msg) {
    if (msg.entries) this._staffQueue(msg);
    if (this.space?.id === msg.stage_id) {
      this.handQueue = msg;
      if (this.you) this.you.hand_position = msg.position ?? null;
      this.changed("hand");
    }
  }

  _on_slots(msg) {
    this._staffSlots(msg);
    if (this.space?.id === msg.stage_id) {
      this.slots = { stage_id: msg.stage_id, slots: msg.slots, speakers: msg.speakers || [] };
      if (this.you && this.me) {
        const mine = msg.slots.find((s) => s.participant?.id === this.me.id);
        this.you.slot = mine ? mine.index : null;
        this.you.speaker = (msg.speakers || []).some((p) => p.id === this.me.id);
      }
      this.changed("slots");
    }
  }

  _on_round(msg) {
    this._setRound(msg.round);
    this.changed("round");
  }

  _on_round_closed(msg) {
    if (this.round?.id === msg.round_id) this._setRound(null);
    this.changed("round");
  }

  _on_chat(msg) {
    this._addChat(msg.message);
    this.changed("chat");
  }

  _on_broadcast(msg) {
    this.broadcast = { ...msg };
    this.changed("broadcast");
  }

  /** Someone I can see changed (mute state, say): update every place that shows them. */
  _on_participant_updated(msg) {
    const person = participantInfo(msg.participant);
    this._know(person);
    if (person.id === this.me?.id) this.me = { ...this.me, ...person };
    if (this.members?.has(person.id)) this.members.set(person.id, person);
    const swap = (slots) => {
      if (!slots) return slots;
      const renew = (p) => (p?.id === person.id ? person : p);
      return {
        ...slots,
        slots: slots.slots.map((s) => (s.participant?.id === person.id ? { ...s, participant: person } : s)),
        speakers: (slots.speakers || []).map(renew),
      };
    };
    this.slots = swap(this.slots);
    for (const [id, slots] of this.staffSlots) this.staffSlots.set(id, swap(slots));
    this.changed("participant", "members", "staff");
  }

  _on_space_added(msg) {
    this.spaces.set(msg.space.id, { ...msg.space });
    this.changed("spaces");
  }

  _on_space_removed(msg) {
    this.spaces.delete(msg.space_id);
    this.changed("spaces");
  }

  _setRound(round) {
    if (!round) {
      this.round = null;
      this.broadcast = null;
      this.changed("broadcast");
      return;
    }
    this.round = { ...round, endsAt: Date.now() + round.remaining_s * 1000 };
    if (this.broadcast && this.broadcast.round_id !== round.id) this.broadcast = null;
  }

  _addChat(message) {
    const list = message.scope === "event" ? this.eventChat : this.spaceChat;
    if (message.scope !== "event" && message.space_id && message.space_id !== this.space?.id) {
      return;
    }
    if (list.some((c) => c.id === message.id)) return;
    list.push(message);
    if (list.length > CHAT_KEEP) list.splice(0, list.length - CHAT_KEEP);
    this._know({ id: message.sender_id, name: message.sender_name });
  }

  /** Chat of my space and the whole event, oldest first. */
  chatLines() {
    return [...this.eventChat, ...this.spaceChat].sort((a, b) => a.sent_at - b.sent_at);
  }

  _staffQueue(queue) {
    this.staffQueues.set(queue.stage_id, queue);
    for (const e of queue.entries || []) this._know({ id: e.participant_id, name: e.name });
    this.changed("staff");
  }

  _staffSlots(slots) {
    this.staffSlots.set(slots.stage_id, slots);
    for (const s of slots.slots) if (s.participant) this._know(s.participant);
    for (const p of slots.speakers || []) this._know(p);
    this.changed("staff");
  }

  /** The freshest ParticipantInfo (or a bit of one, such as a chat sender) for someone. */
  person(id) {
    return this.people.get(id) || null;
  }

  /** Remember people heard of outside the state messages (console search results). */
  remember(people) {
    for (const person of people) this._know(person);
  }

  _know(person) {
    if (!person?.id) return;
    const known = this.people.get(person.id) || {};
    // A whole ParticipantInfo (it has a role) leaves out false mute flags: make them explicit.
    const fresh = person.role ? participantInfo(person) : person;
    this.people.set(person.id, { ...known, ...fresh });
    this.changed("people");
  }
}
