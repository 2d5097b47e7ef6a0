// Inside a space. A stage shows the speakers and the Q&A slots with who is on them, the
// audience count and the raise-hand control; a booth or breakout shows a grid of everyone's
// tiles. Both show the round countdown and a way back to the stage. The same elements are
// reused for every space, so moving only changes what they show.

import { formatDuration, h, plural, setText } from "../dom.js";
import { Agenda } from "./agenda.js";
import { liveStatus } from "./live.js";
import { TileGrid } from "./tiles.js";

// The SFU offers this many video slots per subscriber (the largest layout of a room).
const VIDEO_SLOTS = 9;

const KIND_LABEL = {
  stage: "Stage",
  booth: "Project booth",
  breakout: "Deep dive",
  lobby: "Lobby",
};

export class SpaceView {
  constructor(root, app) {
    this.root = root;
    this.app = app;

    this.kind = h("p", { class: "space-kind" });
    this.title = h("h1", { tabindex: "-1", id: "space-title" });
    this.desc = h("p", { class: "space-desc" });
    this.backToStage = h("button", { type: "button", class: "primary", id: "back-to-stage" }, "Back to stage");
    this.backToStage.addEventListener("click", () => this._backToStage());
    const agendaButton = h("button", { type: "button", "aria-haspopup": "dialog" }, "Agenda");
    const leave = h("button", { type: "button" }, "Lobby");
    leave.setAttribute("aria-label", "Leave to the lobby");
    leave.addEventListener("click", () => app.leave());

    this.agendaDialog = h("dialog", { class: "dialog agenda-dialog", "aria-label": "Agenda" });
    const closeAgenda = h("button", { type: "button", class: "dialog-close" }, "Close");
    closeAgenda.addEventListener("click", () => this.agendaDialog.close());
    const agendaBody = h("div");
    this.agendaDialog.append(closeAgenda, agendaBody);
    document.body.append(this.agendaDialog);
    this.agenda = new Agenda(agendaBody, app, { onJoin: () => this.agendaDialog.close() });
    agendaButton.addEventListener("click", () => this.agendaDialog.showModal());

    this.roundBar = h("div", { class: "round-bar", id: "round-bar", hidden: true });
    this.roundTitle = h("strong", { class: "round-title" });
    this.roundWhere = h("span", { class: "round-where" });
    this.countdown = h("span", { class: "countdown", id: "round-countdown", "aria-live": "off" });
    this.chooseRoom = h("button", { type: "button", class: "link", hidden: true }, "Choose a room");
    this.chooseRoom.addEventListener("click", () => this.agendaDialog.showModal());
    this.roundBar.append(this.roundTitle, this.roundWhere, this.countdown, this.chooseRoom);

    this.mediaHint = h("p", { class: "media-hint", role: "status", hidden: true });

    // Stage.
    this.speakers = new TileGrid(h("div", { class: "tiles tiles-speakers", id: "speaker-tiles" }), app);
    this.qa = new TileGrid(h("div", { class: "tiles tiles-qa", id: "qa-tiles" }), app);
    this.audience = h("p", { class: "audience-count", id: "audience-count" });
    this.hand = h("button", { type: "button", class: "hand", id: "hand-toggle" });
    this.hand.addEventListener("click", () => this._toggleHand());
    this.handStatus = h("p", { class: "hand-status", id: "hand-status", "aria-live": "polite" });
    this.onStage = h("p", { class: "on-stage", id: "on-stage", role: "status", hidden: true });
    this.selfView = h("video", { class: "self-view mirror", autoplay: true, playsinline: true, muted: true });
    // Whether anyone sees and hears me, as the media server says; silent here: the top bar
    // announces the same sentence.
    this.selfCaption = h("figcaption", { class: "self-live" });
    this.selfBox = h("figure", { class: "self-box", hidden: true }, this.selfView, this.selfCaption);
    this.stageLayout = h(
      "div",
      { class: "stage-layout", hidden: true },
      h(
        "section",
        { class: "stage-speakers", "aria-labelledby": "speakers-heading" },
        h("h2", { id: "speakers-heading", class: "section-label" }, "On stage"),
        this.speakers.root,
      ),
      h(
        "section",
        { class: "stage-qa", "aria-labelledby": "qa-heading" },
        h("h2", { id: "qa-heading", class: "section-label" }, "Audience Q&A"),
        this.qa.root,
      ),
      h(
        "div",
        { class: "audience-bar" },
        h("div", null, this.audience, this.handStatus),
        h("div", { class: "audience-actions" }, this.hand),
      ),
      this.onStage,
      this.selfBox,
    );

    // Booth and breakout.
    this.grid = new TileGrid(h("div", { class: "tiles tiles-grid", id: "room-tiles" }), app);
    this.roomCount = h("p", { class: "room-count", id: "room-count" });
    this.roomEmpty = h("p", { class: "muted room-empty", hidden: true });
    this.overflow = h("p", { class: "muted room-overflow", hidden: true });
    this.roomLayout = h(
      "div",
      { class: "room-layout", hidden: true },
      this.roomCount,
      this.grid.root,
      this.roomEmpty,
      this.overflow,
    );

    root.append(
      h(
        "div",
        { class: "space" },
        h(
          "header",
          { class: "space-head" },
          h("div", { class: "space-heading" }, this.kind, this.title, this.desc),
          h("div", { class: "space-actions" }, this.backToStage, agendaButton, leave),
        ),
        this.roundBar,
        this.mediaHint,
        this.stageLayout,
        this.roomLayout,
      ),
    );

    app.store.addEventListener("change", (e) => this._render(e.detail));
    app.addEventListener("tick", () => this._renderRound());
    app.addEventListener("media", () => {
      this._renderMediaHint();
      this._renderSelf();
      const kind = app.store.space?.kind;
      if (kind === "booth" || kind === "breakout") this._renderRoom();
    });
  }

  _render(parts) {
    const store = this.app.store;
    const space = store.space;
    if (!space || space.kind === "lobby") return;
    if (parts.has("space") || parts.has("spaces")) this._renderHead();
    const isStage = space.kind === "stage";
    this.stageLayout.hidden = !isStage;
    this.roomLayout.hidden = isStage;
    this.root.dataset.kind = space.kind;
    if (isStage) {
      if (parts.has("slots") || parts.has("space") || parts.has("me")) this._renderSlots();
      this._renderStageCounts();
      this._renderHand();
      this._renderSelf();
    } else if (parts.has("members") || parts.has("space") || parts.has("counts")) {
      this._renderRoom();
    }
    if (parts.has("round") || parts.has("space") || parts.has("spaces")) this._renderRound();
    this._renderMediaHint();
  }

  _renderHead() {
    const store = this.app.store;
    const space = store.space;
    const inRound = space.round_id && store.round?.id === space.round_id;
    setText(this.kind, inRound ? "Discussion room" : KIND_LABEL[space.kind] || space.kind);
    setText(this.title, space.title);
    setText(this.desc, space.description || "");
    this.desc.hidden = !space.description;
    this.backToStage.hidden = space.kind === "stage" || !store.firstStageId;
  }

  _backToStage() {
    const store = this.app.store;
    const round = store.round;
    const inRound = round && store.space?.round_id === round.id;
    const target = inRound ? round.home_space_id : store.firstStageId;
    if (target) this.app.join(target);
  }

  _renderSlots() {
    const store = this.app.store;
    const me = store.me?.id;
    const slots = store.slots || { slots: [], speakers: [] };
    const speakerSpecs = (slots.speakers || []).map((p) => ({
      key: `speaker-${p.id}`,
      participantId: p.id,
      name: p.name,
      label: "Speaker",
      isMe: p.id === me,
    }));
    if (!speakerSpecs.length) {
      speakerSpecs.push({
        key: "speaker-none",
        empty: true,
        emptyText: "No speaker on stage right now",
        label: "Speaker",
      });
    }
    this.speakers.update(speakerSpecs);
    this.qa.update(
      (slots.slots || []).map((s) => ({
        key: `qa-${s.index}`,
        slotIndex: s.index,
        participantId: s.participant?.id,
        name: s.participant?.name || "",
        label: `Q&A slot ${s.index + 1}`,
        isMe: s.participant?.id === me,
        empty: !s.participant,
        emptyText: "Free: raise your hand to ask a question",
      })),
    );
  }

  _renderStageCounts() {
    const n = this.app.store.memberCount;
    setText(this.audience, `${plural(n, "person", "people")} in the audience`);
  }

  _renderHand() {
    const store = this.app.store;
    const you = store.you || {};
    const queue = store.handQueue;
    const onSlot = you.slot !== null && you.slot !== undefined;
    this.onStage.hidden = !(onSlot || you.speaker);
    if (onSlot) {
      setText(
        this.onStage,
        `You are on stage in Q&A slot ${you.slot + 1}: everyone here can see and hear you.`,
      );
    } else if (you.speaker) {
      setText(this.onStage, "You are on a speaker seat: everyone here can see and hear you.");
    }
    this.hand.hidden = onSlot || Boolean(you.speaker);
    const position = you.hand_position;
    const raised = position !== null && position !== undefined;
    setText(this.hand, raised ? "Lower hand" : "Raise hand");
    this.hand.setAttribute("aria-pressed", String(raised));
    this.hand.classList.toggle("raised", raised);
    const length = queue?.length ?? 0;
    let status = "";
    if (onSlot || you.speaker) status = "";
    else if (raised) status = `Your hand is up: you are number ${position} in the queue.`;
    else if (length) status = `${plural(length, "hand", "hands")} raised.`;
    else status = "Raise your hand to ask a question on camera.";
    setText(this.handStatus, status);
  }

  async _toggleHand() {
    const raised = this.app.store.you?.hand_position;
    this.hand.disabled = true;
    try {
      await this.app.act({ type: raised ? "lower_hand" : "raise_hand" });
    } finally {
      this.hand.disabled = false;
    }
  }

  _renderSelf() {
    const store = this.app.store;
    const local = this.app.local;
    const you = store.you || {};
    const visible =
      store.space?.kind === "stage" &&
      local.hasVideo &&
      !(you.slot !== null && you.slot !== undefined) &&
      !you.speaker;
    this.selfBox.hidden = !visible;
    const stream = visible ? local.stream : null;
    if (this.selfView.srcObject !== stream) this.selfView.srcObject = stream;
    if (visible) {
      const live = liveStatus(local, this.app.media);
      this.selfCaption.dataset.state = live.state;
      setText(this.selfCaption, live.text);
    }
  }

  _renderRoom() {
    const store = this.app.store;
    const me = store.me;
    const space = store.space;
    const members = store.members ? Array.from(store.members.values()) : null;
    const count = store.memberCount;
    const cap = space.capacity ? ` · room for ${space.capacity}` : "";
    setText(this.roomCount, `${plural(count, "person", "people")} here${cap}`);
    if (!members) {
      this.grid.update([]);
      this.roomEmpty.hidden = false;
      setText(this.roomEmpty, "Too many people to show everyone; the latest speakers appear here.");
      this.overflow.hidden = true;
      return;
    }
    // Me first, then whoever the media server shows in a video slot (in a room with more
    // people than slots, the latest speakers), then the rest in order of arrival.
    const shownBySfu = new Set();
    for (const a of this.app.media?.assignments.values() || []) {
      if (a.kind === "video" && a.participant_id) shownBySfu.add(a.participant_id);
    }
    const others = members.filter((m) => m.id !== me?.id);
    const ordered = [
      ...members.filter((m) => m.id === me?.id),
      ...others.filter((m) => shownBySfu.has(m.id)),
      ...others.filter((m) => !shownBySfu.has(m.id)),
    ];
    const shown = ordered.slice(0, VIDEO_SLOTS);
    this.grid.update(
      shown.map((m) => ({
        key: `member-${m.id}`,
        participantId: m.id,
        name: m.name,
        label: m.role === "attendee" ? "" : m.role,
        isMe: m.id === me?.id,
      })),
    );
    this.roomEmpty.hidden = ordered.length > 1;
    setText(this.roomEmpty, "You are the first one here. Others appear as they join.");
    const more = ordered.length - shown.length;
    this.overflow.hidden = more <= 0;
    setText(this.overflow, `${plural(more, "more person", "more people")} here: see People.`);
  }

  _renderRound() {
    const store = this.app.store;
    const round = store.round;
    const space = store.space;
    this.roundBar.hidden = !round || !space || space.kind === "lobby";
    if (!round || !space) return;
    const inRound = space.round_id === round.id;
    setText(this.roundTitle, round.title);
    const index = round.room_ids.indexOf(space.id);
    setText(
      this.roundWhere,
      inRound ? `Room ${index + 1} of ${round.room_ids.length}` : "Discussion round running",
    );
    const left = Math.max(0, (round.endsAt - Date.now()) / 1000);
    setText(this.countdown, `${formatDuration(left)} left`);
    this.countdown.classList.toggle("ending", left < 60);
    this.chooseRoom.hidden = inRound || round.mode !== "choice";
  }

  _renderMediaHint() {
    const { media } = this.app;
    const state = media?.state;
    const space = this.app.store.space;
    const show = (state === "unavailable" || state === "failed") && space && space.kind !== "lobby";
    this.mediaHint.hidden = !show;
    if (show) {
      setText(
        this.mediaHint,
        state === "unavailable"
          ? "Media unavailable: others' video and sound cannot be shown yet. Your own preview, names and chat work."
          : `Media problem: ${media.detail}`,
      );
    }
  }
}
