// The moderator console (moderators and hosts): the hand queue with promote and dismiss, the
// Q&A slots with demote and swap, discussion rounds (open, broadcast, assign, close), and
// actions on one participant (move, mute request, speaker seat, remove). Forms are built once
// and only the lists inside them are redrawn, so typing is never interrupted by updates.

import { formatDuration, h, plural, replaceChildren, setText } from "../dom.js";
import { muteBadges } from "./tiles.js";

const SEARCH_DELAY_MS = 250;

let fieldIds = 0;

/**
 * Redraw a list without losing keyboard focus: a moderator tabbing through the queue keeps
 * their place on the same control (matched by its accessible name) when the list changes.
 */
function keepFocus(list, redraw) {
  const active = document.activeElement;
  const label = list.contains(active) ? active.getAttribute("aria-label") || active.textContent : null;
  redraw();
  if (label === null) return;
  const same = Array.from(list.querySelectorAll("button")).find(
    (b) => (b.getAttribute("aria-label") || b.textContent) === label,
  );
  (same || list.querySelector("button") || list.closest("section")?.querySelector("h2"))?.focus();
}

function field(label, control, hint = "") {
  const id = control.id || `console-field-${++fieldIds}`;
  control.id = id;
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    control,
    hint ? h("p", { class: "hint" }, hint) : null,
  );
}

export class ModeratorConsole {
  constructor(root, app) {
    this.root = root;
    this.app = app;
    const protocol = app.protocol;
    this.limits = {
      minRooms: protocol.limit("MIN_ROOM_COUNT", 1),
      maxRooms: protocol.limit("MAX_ROOM_COUNT", 50),
      minDuration: protocol.limit("MIN_ROUND_DURATION_S", 10),
      maxDuration: protocol.limit("MAX_ROUND_DURATION_S", 14400),
      maxCapacity: protocol.limit("MAX_ROOM_CAPACITY", 1000),
      maxName: protocol.limit("MAX_NAME_CHARS", 64),
      maxChat: protocol.limit("MAX_CHAT_CHARS", 2000),
      maxReason: protocol.limit("MAX_REASON_CHARS", 200),
    };

    replaceChildren(
      root,
      this._qaSection(),
      this._roundSection(),
      this._personSection(),
    );
    app.store.addEventListener("change", (e) => this._render(e.detail));
    app.addEventListener("tick", () => this._tick());
    this._render(new Set(["staff", "round", "spaces", "people", "space", "templates"]));
  }

  // ------------------------------------------------------------------ Q&A

  _qaSection() {
    this.stageName = h("span");
    // Moderators receive every stage's queue and slots, wherever they are.
    this.stageChoice = h("select", { id: "console-stage" });
    this.stageChoice.addEventListener("change", () => this._renderQa());
    this.stageField = field("Stage", this.stageChoice);
    this.queueNote = h("p", { class: "muted", id: "console-queue-note" });
    this.queueList = h("ol", { class: "console-list", id: "console-queue" });
    this.promoteInto = h("select", { id: "console-promote-into" });
    this.slotList = h("ul", { class: "console-list", id: "console-slots" });
    this.swapBox = h("div", { class: "button-row" });
    this.speakerList = h("ul", { class: "console-list", id: "console-speakers" });
    return h(
      "section",
      { class: "console-section", "aria-labelledby": "console-qa" },
      h("h2", { id: "console-qa", tabindex: "-1" }, "Q&A on ", this.stageName),
      this.stageField,
      h("h3", null, "Raised hands"),
      this.queueNote,
      this.queueList,
      field("Promote into", this.promoteInto),
      h("h3", null, "Q&A slots"),
      this.slotList,
      this.swapBox,
      h("h3", null, "Speaker seats"),
      this.speakerList,
    );
  }

  _stageIds() {
    return Array.from(this.app.store.spaces.values())
      .filter((s) => s.kind === "stage")
      .map((s) => s.id);
  }

  _stageId() {
    const store = this.app.store;
    const chosen = this.stageChoice.value;
    if (chosen && store.spaces.get(chosen)?.kind === "stage") return chosen;
    return store.inStage ? store.space.id : store.firstStageId;
  }

  _renderStages() {
    const store = this.app.store;
    const stages = this._stageIds();
    const current = this._stageId();
    replaceChildren(
      this.stageChoice,
      stages.map((id) => h("option", { value: id }, store.spaceTitle(id))),
    );
    if (current) this.stageChoice.value = current;
    this.stageField.hidden = stages.length < 2;
  }

  _renderQa() {
    const store = this.app.store;
    const stageId = this._stageId();
    setText(this.stageName, stageId ? store.spaceTitle(stageId) : "the stage");
    const queue = stageId ? store.staffQueues.get(stageId) : null;
    const slots = stageId ? store.staffSlots.get(stageId) : null;

    if (!queue) {
      setText(this.queueNote, stageId ? "Loading the queue…" : "This event has no stage.");
      this.queueNote.hidden = false;
      keepFocus(this.queueList, () => replaceChildren(this.queueList));
    } else {
      const entries = queue.entries || [];
      this.queueNote.hidden = entries.length > 0;
      setText(this.queueNote, "No hands raised.");
      keepFocus(this.queueList, () => replaceChildren(
        this.queueList,
        entries.map((e) => {
          const promote = h(
            "button",
            { type: "button", class: "primary", "aria-label": `Promote ${e.name}` },
            "Promote",
          );
          promote.addEventListener("click", () => this._promote(e.participant_id, e.name));
          const dismiss = h(
            "button",
            { type: "button", "aria-label": `Dismiss the hand of ${e.name}` },
            "Dismiss",
          );
          dismiss.addEventListener("click", () =>
            this.app.act({ type: "dismiss", participant_id: e.participant_id }),
          );
          const waited = h("span", { class: "muted waited", "data-raised-at": String(e.raised_at) });
          const row = h(
            "li",
            { "data-participant-id": e.participant_id },
            h(
              "span",
              { class: "who" },
              h("span", { class: "person-name" }, e.name),
              this._badges(e.participant_id),
              waited,
            ),
            h("span", { class: "button-row" }, promote, dismiss),
          );
          return row;
        }),
      ));
      this._tick();
    }

    const slotCount = slots?.slots.length ?? store.spaces.get(stageId)?.qa_slots ?? 0;
    const chosen = this.promoteInto.value;
    replaceChildren(
      this.promoteInto,
      h("option", { value: "" }, "First free slot"),
      Array.from({ length: slotCount }, (_, i) => h("option", { value: String(i) }, `Slot ${i + 1}`)),
    );
    this.promoteInto.value = chosen && Number(chosen) < slotCount ? chosen : "";

    if (!slots) {
      replaceChildren(
        this.slotList,
        h("li", { class: "muted" }, stageId ? "Loading the slots…" : "No Q&A slots."),
      );
      replaceChildren(this.swapBox);
      replaceChildren(this.speakerList);
      return;
    }
    keepFocus(this.slotList, () => replaceChildren(
      this.slotList,
      slots.slots.map((s) => {
        const label = h("span", { class: "slot-label" }, `Slot ${s.index + 1}: `);
        if (!s.participant) {
          return h("li", { "data-slot-index": String(s.index) }, label, h("span", { class: "muted" }, "free"));
        }
        const demote = h(
          "button",
          { type: "button", "aria-label": `Demote ${s.participant.name}` },
          "Demote",
        );
        demote.addEventListener("click", () =>
          this.app.act({ type: "demote", participant_id: s.participant.id }),
        );
        return h(
          "li",
          { "data-slot-index": String(s.index), "data-participant-id": s.participant.id },
          label,
          h("span", { class: "person-name" }, s.participant.name),
          this._badges(s.participant.id, s.participant),
          demote,
        );
      }),
    ));
    const swaps = [];
    for (let i = 1; i < slots.slots.length; i += 1) {
      const swap = h("button", { type: "button" }, `Swap slots ${i} and ${i + 1}`);
      swap.addEventListener("click", () =>
        this.app.act({ type: "swap_slots", stage_id: slots.stage_id, a: i - 1, b: i }),
      );
      swaps.push(swap);
    }
    replaceChildren(this.swapBox, swaps);
    const speakers = slots.speakers || [];
    replaceChildren(
      this.speakerList,
      speakers.length
        ? speakers.map((p) => {
            const off = h(
              "button",
              { type: "button", "aria-label": `Take the speaker seat from ${p.name}` },
              "Take seat",
            );
            off.addEventListener("click", () =>
              this.app.act({ type: "set_speaker", participant_id: p.id, on: false }),
            );
            return h(
              "li",
              { "data-participant-id": p.id },
              h("span", { class: "person-name" }, p.name),
              this._badges(p.id, p),
              off,
            );
          })
        : h("li", { class: "muted" }, "Nobody on a speaker seat."),
    );
  }

  /** Mute and camera-off badges for someone, from the freshest news about them. */
  _badges(participantId, fallback = null) {
    const person = this.app.store.person(participantId) || fallback || {};
    return muteBadges(Boolean(person.muted_audio), Boolean(person.muted_video));
  }

  _promote(participantId, name) {
    const slot = this.promoteInto.value === "" ? null : Number(this.promoteInto.value);
    const message = { type: "promote", participant_id: participantId };
    if (slot !== null) message.slot = slot;
    this.app.act(message, `${name} is on stage.`);
  }

  // ------------------------------------------------------------------ rounds

  _roundSection() {
    const l = this.limits;
    this.roundTitle = h("input", {
      type: "text",
      id: "round-title",
      maxlength: l.maxName,
      placeholder: "Discussion round",
    });
    // The event's round templates: the first one gives the form its defaults.
    this.roundTemplate = h("select", { id: "round-template" });
    this.roundTemplate.addEventListener("change", () => this._applyTemplate());
    this.templateField = field("Template", this.roundTemplate);
    this._templatesShown = null;
    this.roundRooms = h("input", {
      type: "number",
      id: "round-rooms",
      min: l.minRooms,
      max: l.maxRooms,
      step: "1",
      value: "4",
      required: true,
    });
    this.roundMinutes = h("input", {
      type: "number",
      id: "round-minutes",
      min: String(l.minDuration / 60),
      max: String(l.maxDuration / 60),
      step: "any",
      value: "15",
      required: true,
    });
    this.roundCapacity = h("input", {
      type: "number",
      id: "round-capacity",
      min: "1",
      max: l.maxCapacity,
      step: "1",
      placeholder: "No limit",
    });
    const modes = [
      ["random", "Random", "Spread the stage audience evenly over the rooms."],
      ["choice", "Choice", "Everyone picks a room themselves."],
      ["manual", "Manual", "Moderators assign people to rooms."],
    ];
    this.modeInputs = modes.map(([value]) =>
      h("input", { type: "radio", name: "round-mode", value, id: `round-mode-${value}`, checked: value === "random" }),
    );
    const modeField = h(
      "fieldset",
      { class: "modes" },
      h("legend", null, "Assignment"),
      modes.map(([value, label, hint], i) =>
        h(
          "div",
          { class: "mode" },
          this.modeInputs[i],
          h("label", { for: `round-mode-${value}` }, h("strong", null, label), ` ${hint}`),
        ),
      ),
    );
    this.openForm = h(
      "form",
      { class: "console-form", id: "open-round-form" },
      this.templateField,
      field("Title (optional)", this.roundTitle),
      h(
        "div",
        { class: "field-row" },
        field("Rooms", this.roundRooms),
        field("Minutes", this.roundMinutes),
        field("Room capacity", this.roundCapacity),
      ),
      modeField,
      h("button", { type: "submit", class: "primary" }, "Open round"),
    );
    this.openForm.addEventListener("submit", (e) => {
      e.preventDefault();
      this._openRound();
    });

    this.roundInfo = h("div", { class: "round-info" });
    this.roundCountdown = h("span", { class: "countdown", id: "console-countdown" });
    this.roomList = h("ul", { class: "console-list", id: "console-rooms" });
    this.broadcastText = h("textarea", {
      id: "broadcast-text",
      rows: "2",
      maxlength: l.maxChat,
      placeholder: "e.g. Five minutes left: agree on one idea to share.",
    });
    const broadcastForm = h(
      "form",
      { class: "console-form" },
      field("Message to all rooms", this.broadcastText),
      h("button", { type: "submit" }, "Broadcast"),
    );
    broadcastForm.addEventListener("submit", async (e) => {
      e.preventDefault();
      const text = this.broadcastText.value.trim();
      if (!text) return;
      const round = this.app.store.round;
      const ok = await this.app.act(
        { type: "broadcast", text, round_id: round?.id ?? null },
        "Broadcast sent to every room.",
      );
      if (ok !== undefined) this.broadcastText.value = "";
    });
    this.assignPerson = h("select", { id: "assign-person" });
    this.assignRoom = h("select", { id: "assign-room" });
    const assignForm = h(
      "form",
      { class: "console-form", id: "assign-form" },
      h(
        "div",
        { class: "field-row" },
        field("Person", this.assignPerson),
        field("Room", this.assignRoom),
      ),
      h("button", { type: "submit" }, "Assign"),
    );
    assignForm.addEventListener("submit", (e) => {
      e.preventDefault();
      const round = this.app.store.round;
      if (!round || !this.assignPerson.value || !this.assignRoom.value) return;
      this.app.act({
        type: "assign",
        round_id: round.id,
        participant_id: this.assignPerson.value,
        room_id: this.assignRoom.value,
      });
    });
    const close = h("button", { type: "button", class: "danger", id: "close-round" }, "Close round now");
    close.addEventListener("click", () => {
      const round = this.app.store.round;
      if (round) this.app.act({ type: "close_round", round_id: round.id }, "Round closed: everyone is back.");
    });
    this.roundBox = h(
      "div",
      { class: "round-box", hidden: true },
      this.roundInfo,
      this.roomList,
      broadcastForm,
      h("h3", null, "Put someone in a room"),
      assignForm,
      close,
    );
    return h(
      "section",
      { class: "console-section", "aria-labelledby": "console-round" },
      h("h2", { id: "console-round", tabindex: "-1" }, "Discussion round"),
      this.openForm,
      this.roundBox,
    );
  }

  async _openRound() {
    const rooms = Number(this.roundRooms.value);
    const seconds = Math.round(Number(this.roundMinutes.value) * 60);
    const l = this.limits;
    if (!Number.isInteger(rooms) || rooms < l.minRooms || rooms > l.maxRooms) {
      this.app.toasts.show(`Rooms must be between ${l.minRooms} and ${l.maxRooms}.`, "error");
      this.roundRooms.focus();
      return;
    }
    if (!(seconds >= l.minDuration && seconds <= l.maxDuration)) {
      this.app.toasts.show(
        `The round must last between ${l.minDuration} seconds and ${l.maxDuration / 3600} hours.`,
        "error",
      );
      this.roundMinutes.focus();
      return;
    }
    const mode = this.modeInputs.find((i) => i.checked)?.value || "random";
    const message = { type: "open_round", room_count: rooms, duration_s: seconds, mode };
    // With a template, what the form says still wins; an empty title or capacity is the
    // template's.
    if (this._template()) message.template_id = this._template().id;
    const title = this.roundTitle.value.trim();
    if (title) message.title = title;
    const capacity = this.roundCapacity.value.trim();
    if (capacity) message.room_capacity = Number(capacity);
    const result = await this.app.act(message);
    if (result !== undefined) this.app.toasts.show(`Round open: ${plural(rooms, "room", "rooms")}.`);
  }

  _template() {
    const id = this.roundTemplate.value;
    return this.app.store.templates.find((t) => t.id === id) || null;
  }

  /** List the templates; the first one is chosen and fills the form, once. */
  _renderTemplates() {
    const templates = this.app.store.templates;
    const key = JSON.stringify(templates);
    if (this._templatesShown === key) return;
    const first = this._templatesShown === null;
    this._templatesShown = key;
    const chosen = this.roundTemplate.value;
    replaceChildren(
      this.roundTemplate,
      templates.map((t) => h("option", { value: t.id }, t.title)),
      h("option", { value: "" }, "None: set everything here"),
    );
    this.templateField.hidden = !templates.length;
    if (templates.some((t) => t.id === chosen)) {
      this.roundTemplate.value = chosen;
    } else {
      this.roundTemplate.value = templates[0]?.id || "";
      if (first || chosen) this._applyTemplate();
    }
  }

  _applyTemplate() {
    const template = this._template();
    if (!template) {
      this.roundTitle.placeholder = "Discussion round";
      return;
    }
    this.roundTitle.placeholder = template.title;
    this.roundRooms.value = String(template.room_count);
    const minutes = template.duration_s / 60;
    this.roundMinutes.value = String(Math.round(minutes * 100) / 100);
    this.roundCapacity.value = template.room_capacity ? String(template.room_capacity) : "";
  }

  _renderRound() {
    const store = this.app.store;
    const round = store.round;
    this.openForm.hidden = Boolean(round);
    this.roundBox.hidden = !round;
    if (!round) return;
    const modeText = { random: "random assignment", choice: "people choose", manual: "manual assignment" };
    replaceChildren(
      this.roundInfo,
      h("p", null, h("strong", null, round.title), ` · ${modeText[round.mode]} · `, this.roundCountdown),
    );
    keepFocus(this.roomList, () => replaceChildren(
      this.roomList,
      round.room_ids.map((id) => {
        const space = store.spaces.get(id);
        const n = space?.participants ?? 0;
        const visit = h(
          "button",
          { type: "button", class: "link", "aria-label": `Visit ${space?.title || id}` },
          store.space?.id === id ? "You are here" : "Visit",
        );
        visit.disabled = store.space?.id === id;
        visit.addEventListener("click", () => this.app.join(id));
        return h(
          "li",
          { "data-space-id": id },
          h("span", null, space?.title || id),
          h("span", { class: "muted" }, plural(n, "person", "people")),
          visit,
        );
      }),
    ));
    const chosen = this.assignRoom.value;
    replaceChildren(
      this.assignRoom,
      round.room_ids.map((id) => h("option", { value: id }, store.spaceTitle(id))),
    );
    if (round.room_ids.includes(chosen)) this.assignRoom.value = chosen;
    this._tick();
  }

  // ------------------------------------------------------------------ one participant

  _personSection() {
    this.search = h("input", {
      type: "search",
      id: "console-search",
      placeholder: "Part of a name or id",
      maxlength: this.limits.maxName,
      autocomplete: "off",
      spellcheck: "false",
    });
    this.searchNote = h("p", { class: "muted", id: "console-search-note", role: "status" });
    this.searchResults = h("ul", { class: "console-list search-results", id: "console-search-results" });
    this._searchTimer = 0;
    this._searchSeq = 0;
    this._found = [];
    this.search.addEventListener("input", () => {
      window.clearTimeout(this._searchTimer);
      this._searchTimer = window.setTimeout(() => this._find(), SEARCH_DELAY_MS);
    });
    this.search.addEventListener("keydown", (e) => {
      if (e.key === "Enter") {
        e.preventDefault();
        window.clearTimeout(this._searchTimer);
        this._find();
      }
    });
    this.chosen = h("p", { class: "chosen", id: "console-chosen", "aria-live": "polite" });
    this.person = h("select", { id: "console-person" });
    this.personId = h("input", {
      type: "text",
      id: "console-person-id",
      placeholder: "or paste a participant id",
      autocomplete: "off",
      spellcheck: "false",
    });
    this.moveTo = h("select", { id: "console-move-to" });
    this.reason = h("input", {
      type: "text",
      id: "console-reason",
      maxlength: this.limits.maxReason,
      placeholder: "Shown to them",
    });
    const move = h("button", { type: "button" }, "Move");
    move.addEventListener("click", () => {
      const pid = this._target();
      if (pid && this.moveTo.value) {
        this.app
          .act(
            { type: "move_participant", participant_id: pid, space_id: this.moveTo.value },
            `Moved to ${this.app.store.spaceTitle(this.moveTo.value)}.`,
          )
          .then((ok) => {
            // Show where they are now in the search results.
            if (ok !== undefined && this._found.includes(pid)) this._find();
          });
      }
    });
    const muteMic = h("button", { type: "button" }, "Ask to mute microphone");
    muteMic.addEventListener("click", () => this._ask("audio"));
    const muteCam = h("button", { type: "button" }, "Ask to turn camera off");
    muteCam.addEventListener("click", () => this._ask("video"));
    const seatOn = h("button", { type: "button" }, "Give speaker seat");
    seatOn.addEventListener("click", () => this._seat(true));
    const seatOff = h("button", { type: "button" }, "Take speaker seat");
    seatOff.addEventListener("click", () => this._seat(false));
    this.remove = h("button", { type: "button", class: "danger", id: "console-remove" }, "Remove from event");
    this.remove.addEventListener("click", () => this._remove());
    this.person.addEventListener("change", () => {
      this.personId.value = "";
      this._disarmRemove();
      this._renderChosen();
    });
    this.personId.addEventListener("input", () => {
      this._disarmRemove();
      this._renderChosen();
    });
    return h(
      "section",
      { class: "console-section", "aria-labelledby": "console-person-heading" },
      h("h2", { id: "console-person-heading" }, "Participant actions"),
      field("Find a participant", this.search, "Anywhere in the event, by name or id."),
      this.searchNote,
      this.searchResults,
      field("Who", this.person),
      field("Participant id", this.personId),
      this.chosen,
      h("div", { class: "field-row" }, field("Move to", this.moveTo), h("div", { class: "field end" }, move)),
      h("div", { class: "button-row wrap" }, muteMic, muteCam, seatOn, seatOff),
      field("Reason for removal (optional)", this.reason),
      this.remove,
    );
  }

  /** Select a participant in the console (from the people list or a search result). */
  pick(participantId, focus = true) {
    this._renderPeople();
    this.person.value = participantId;
    this.personId.value = "";
    this._disarmRemove();
    this._renderChosen();
    if (focus) this.person.focus();
  }

  /** Ask the server for participants matching the search box, anywhere in the event. */
  async _find() {
    const query = this.search.value.trim();
    const seq = ++this._searchSeq;
    if (!query) {
      this._found = [];
      setText(this.searchNote, "");
      replaceChildren(this.searchResults);
      return;
    }
    setText(this.searchNote, "Searching…");
    let result;
    try {
      result = await this.app.conn.request({ type: "find_participants", query });
    } catch (err) {
      if (seq === this._searchSeq) setText(this.searchNote, err.message || String(err));
      return;
    }
    if (seq !== this._searchSeq) return; // a newer search was typed meanwhile
    const store = this.app.store;
    // Remember them so the "Who" list and the action messages can name them.
    store.remember(result?.participants || []);
    this._found = (result?.participants || []).map((p) => p.id);
    this._renderFound();
  }

  _renderFound() {
    const store = this.app.store;
    const found = this._found.map((id) => store.person(id)).filter(Boolean);
    const query = this.search.value.trim();
    setText(
      this.searchNote,
      found.length ? `${plural(found.length, "match", "matches")} for “${query}”` : `Nobody matches “${query}”.`,
    );
    keepFocus(this.searchResults, () => replaceChildren(
      this.searchResults,
      found.map((p) => {
        const choose = h(
          "button",
          { type: "button", "aria-label": `Choose ${p.name}` },
          this._target(false) === p.id ? "Chosen" : "Choose",
        );
        choose.addEventListener("click", () => this.pick(p.id, false));
        const where = p.space_id ? store.spaceTitle(p.space_id) : "";
        return h(
          "li",
          { "data-participant-id": p.id },
          h("span", { class: "person-name" }, p.name),
          p.role && p.role !== "attendee" ? h("span", { class: "badge" }, p.role) : null,
          this._badges(p.id, p),
          h("span", { class: "muted where" }, where),
          choose,
        );
      }),
    ));
  }

  _renderChosen() {
    const pid = this._target(false);
    const store = this.app.store;
    const person = pid ? store.person(pid) : null;
    if (!pid) setText(this.chosen, "Nobody chosen yet.");
    else if (!person?.name) setText(this.chosen, `Chosen: ${pid}`);
    else {
      const where = person.space_id ? ` in ${store.spaceTitle(person.space_id)}` : "";
      setText(this.chosen, `Chosen: ${person.name}${where}`);
    }
    if (this._found.length) this._renderFound();
  }

  _target(complain = true) {
    const pid = this.personId.value.trim() || this.person.value;
    if (!pid && complain) this.app.toasts.show("Choose a participant first.", "error");
    return pid;
  }

  _name(pid) {
    return this.app.store.people.get(pid)?.name || pid;
  }

  _ask(kind) {
    const pid = this._target();
    if (!pid) return;
    this.app.act(
      { type: "mute_request", participant_id: pid, kind },
      `Asked ${this._name(pid)} to ${kind === "audio" ? "mute" : "turn the camera off"}.`,
    );
  }

  _seat(on) {
    const pid = this._target();
    if (pid) this.app.act({ type: "set_speaker", participant_id: pid, on });
  }

  _remove() {
    const pid = this._target();
    if (!pid) return;
    if (this.remove.dataset.armed !== pid) {
      this.remove.dataset.armed = pid;
      setText(this.remove, `Confirm: remove ${this._name(pid)}`);
      return;
    }
    const message = { type: "remove", participant_id: pid };
    const reason = this.reason.value.trim();
    if (reason) message.reason = reason;
    this.app.act(message, `${this._name(pid)} was removed.`);
    this.reason.value = "";
    this._disarmRemove();
  }

  _disarmRemove() {
    delete this.remove.dataset.armed;
    setText(this.remove, "Remove from event");
  }

  _renderPeople() {
    const store = this.app.store;
    const people = Array.from(store.people.values())
      .filter((p) => p.id !== store.me?.id && p.name)
      .sort((a, b) => a.name.localeCompare(b.name));
    for (const [select, keepEmpty] of [
      [this.person, "Choose someone you have seen"],
      [this.assignPerson, "Choose a participant"],
    ]) {
      const chosen = select.value;
      replaceChildren(
        select,
        h("option", { value: "" }, keepEmpty),
        people.map((p) => {
          const where = p.space_id ? ` (${store.spaceTitle(p.space_id)})` : "";
          return h("option", { value: p.id }, `${p.name}${where}`);
        }),
      );
      if (people.some((p) => p.id === chosen)) select.value = chosen;
    }
  }

  _renderSpaces() {
    const store = this.app.store;
    const chosen = this.moveTo.value;
    replaceChildren(
      this.moveTo,
      Array.from(store.spaces.values()).map((s) => h("option", { value: s.id }, s.title)),
    );
    if (store.spaces.has(chosen)) this.moveTo.value = chosen;
  }

  // ------------------------------------------------------------------

  _render(parts) {
    if (parts.has("spaces") || parts.has("space")) this._renderStages();
    if (parts.has("templates")) this._renderTemplates();
    if (
      parts.has("staff") ||
      parts.has("space") ||
      parts.has("spaces") ||
      parts.has("slots") ||
      parts.has("participant")
    ) {
      this._renderQa();
    }
    if (parts.has("round") || parts.has("spaces") || parts.has("counts") || parts.has("space")) {
      this._renderRound();
    }
    if (parts.has("people") || parts.has("spaces")) {
      this._renderPeople();
      this._renderChosen();
    }
    if (parts.has("spaces")) this._renderSpaces();
  }

  _tick() {
    const store = this.app.store;
    const round = store.round;
    if (round) {
      setText(this.roundCountdown, `${formatDuration((round.endsAt - Date.now()) / 1000)} left`);
    }
    const now = Date.now() + store.clockOffsetMs;
    for (const el of this.queueList.querySelectorAll("[data-raised-at]")) {
      const waited = Math.max(0, now / 1000 - Number(el.dataset.raisedAt));
      setText(el, `waiting ${formatDuration(waited)}`);
    }
  }
}
