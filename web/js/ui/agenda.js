// The agenda: the stages, the twenty project booths, the deep dives and the current
// discussion round, with live counts; one click joins any of them. It is the lobby's main
// view, and the same list opens as a dialog from inside any space.

import { formatDuration, h, replaceChildren, setText } from "../dom.js";

const SECTIONS = [
  { key: "stage", title: "Stages", empty: "No stage is open." },
  { key: "booth", title: "Project booths", empty: "No project booths yet.", filter: true },
  { key: "deep", title: "Deep dives", empty: "No deep-dive spaces." },
  { key: "round", title: "Discussion rooms", empty: "" },
];

function sectionOf(space) {
  if (space.kind === "stage") return "stage";
  if (space.kind === "booth") return "booth";
  if (space.kind === "breakout") return space.round_id ? "round" : "deep";
  return null;
}

let nextId = 1;

export class Agenda {
  constructor(root, app, { asLobby = false, onJoin = null } = {}) {
    this.root = root;
    this.app = app;
    this.asLobby = asLobby;
    this.onJoin = onJoin;
    this.uid = `agenda-${nextId++}`;
    this.cards = new Map(); // space id -> {card, count, meter, button}
    this.lists = new Map(); // section key -> <ul>
    this.sections = new Map();

    this.heading = h(asLobby ? "h1" : "h2", { tabindex: "-1", class: "agenda-title" }, "Agenda");
    this.description = h("p", { class: "lead" });
    this.total = h("p", { class: "muted agenda-total" });
    this.now = h("div", { class: "now-body" });
    this.filter = h("input", {
      type: "search",
      id: `${this.uid}-filter`,
      placeholder: "Filter booths by name or topic",
      autocomplete: "off",
    });
    this.filter.addEventListener("input", () => this._applyFilter());
    this.noMatch = h("p", { class: "muted", hidden: true }, "No booth matches that filter.");

    const body = [
      h("header", { class: "agenda-head" }, this.heading, this.description, this.total),
      h(
        "section",
        { class: "agenda-now", "aria-labelledby": `${this.uid}-now` },
        h("h2", { id: `${this.uid}-now` }, "Now"),
        this.now,
      ),
    ];
    for (const section of SECTIONS) {
      const list = h("ul", { class: `cards cards-${section.key}`, "data-section": section.key });
      this.lists.set(section.key, list);
      const count = h("span", { class: "section-count" });
      const el = h(
        "section",
        { class: `agenda-section section-${section.key}`, "aria-labelledby": `${this.uid}-${section.key}` },
        h("h2", { id: `${this.uid}-${section.key}` }, section.title, " ", count),
        section.filter
          ? h(
              "div",
              { class: "filter" },
              h("label", { for: `${this.uid}-filter`, class: "sr-only" }, "Filter booths"),
              this.filter,
            )
          : null,
        list,
        section.filter ? this.noMatch : null,
        h("p", { class: "muted section-empty", hidden: true }, section.empty),
      );
      this.sections.set(section.key, { el, count });
      body.push(el);
    }
    replaceChildren(root, h("div", { class: "agenda" }, body));

    app.store.addEventListener("change", (e) => this._render(e.detail));
    app.addEventListener("tick", () => this._renderNow());
    this._render(new Set(["event", "spaces"]));
  }

  _render(parts) {
    const store = this.app.store;
    if (parts.has("event") && store.event) {
      setText(this.heading, this.asLobby ? store.event.title : "Agenda");
      setText(this.description, this.asLobby ? store.event.description : "");
      this.description.hidden = !this.asLobby;
    }
    if (parts.has("spaces")) this._build();
    if (parts.has("spaces") || parts.has("counts") || parts.has("space") || parts.has("round")) {
      this._renderCounts();
      this._renderNow();
    }
  }

  /** (Re)build the cards when the set of spaces changed; keeps focus on the same card. */
  _build() {
    const store = this.app.store;
    const wanted = new Map(SECTIONS.map((s) => [s.key, []]));
    for (const space of store.spaces.values()) {
      const key = sectionOf(space);
      if (key) wanted.get(key).push(space);
    }
    const focused = document.activeElement?.closest?.("[data-space-id]")?.dataset.spaceId;
    for (const [key, spaces] of wanted) {
      const list = this.lists.get(key);
      const have = Array.from(list.children).map((li) => li.dataset.spaceId);
      const ids = spaces.map((s) => s.id);
      if (have.join("\n") !== ids.join("\n")) {
        for (const id of have) if (!ids.includes(id)) this.cards.delete(id);
        replaceChildren(list, spaces.map((s) => this._card(s)));
      } else {
        for (const space of spaces) this._updateCard(space);
      }
      const { el, count } = this.sections.get(key);
      setText(count, spaces.length ? `(${spaces.length})` : "");
      el.querySelector(".section-empty").hidden = spaces.length > 0;
      if (key === "round") el.hidden = spaces.length === 0;
    }
    if (focused && this.root.contains(document.activeElement) === false) {
      this.cards.get(focused)?.button.focus();
    }
    this._applyFilter();
  }

  _card(space) {
    const title = h("h3", { class: "card-title" });
    const desc = h("p", { class: "card-desc" });
    const count = h("span", { class: "card-count" });
    const meter = h("span", { class: "card-meter", "aria-hidden": "true" }, h("span"));
    const button = h("button", { type: "button", class: "join" });
    button.addEventListener("click", () => this._join(space.id));
    const card = h(
      "li",
      { class: `card card-${space.kind}`, "data-space-id": space.id },
      h("div", { class: "card-body" }, title, desc),
      h("div", { class: "card-foot" }, h("span", { class: "card-people" }, count, meter), button),
    );
    this.cards.set(space.id, { card, title, desc, count, meter, button });
    this._updateCard(space);
    return card;
  }

  _updateCard(space) {
    const entry = this.cards.get(space.id);
    if (!entry) return;
    const store = this.app.store;
    setText(entry.title, space.title);
    setText(entry.desc, space.description || "");
    entry.desc.hidden = !space.description;
    const n = space.participants ?? 0;
    const cap = space.capacity;
    setText(entry.count, cap ? `${n} / ${cap}` : `${n} here`);
    entry.count.setAttribute(
      "aria-label",
      cap ? `${n} of ${cap} places taken` : `${n} ${n === 1 ? "person" : "people"} here`,
    );
    entry.meter.hidden = !cap;
    if (cap) entry.meter.firstChild.style.width = `${Math.min(100, (100 * n) / cap)}%`;
    const here = store.space?.id === space.id;
    const full = cap !== null && cap !== undefined && n >= cap && !store.isStaff;
    const round = store.round;
    const closedRoom =
      space.round_id && round?.id === space.round_id && round.mode !== "choice" && !store.isStaff;
    entry.card.classList.toggle("here", here);
    entry.card.classList.toggle("full", full);
    let label = "Join";
    if (here) label = "You are here";
    else if (closedRoom) label = "Assigned by moderators";
    else if (full) label = "Full";
    setText(entry.button, label);
    entry.button.disabled = here || full || Boolean(closedRoom);
    entry.button.setAttribute("aria-label", here ? `You are in ${space.title}` : `${label}: ${space.title}`);
  }

  _renderCounts() {
    const store = this.app.store;
    for (const space of store.spaces.values()) this._updateCard(space);
    let total = 0;
    for (const space of store.spaces.values()) total += space.participants ?? 0;
    setText(this.total, `${total} ${total === 1 ? "person" : "people"} at the event right now`);
  }

  _renderNow() {
    const store = this.app.store;
    const round = store.round;
    if (!round) {
      const stage = store.firstStageId;
      const where = stage ? store.spaceTitle(stage) : "the stage";
      if (this.now.dataset.state !== `none:${where}`) {
        this.now.dataset.state = `none:${where}`;
        replaceChildren(
          this.now,
          h("p", { class: "muted" }, `No discussion round is running. Talks and Q&A are on ${where}.`),
        );
      }
      return;
    }
    const left = Math.max(0, (round.endsAt - Date.now()) / 1000);
    const key = `${round.id}:${round.mode}`;
    if (this.now.dataset.state !== key) {
      this.now.dataset.state = key;
      this._nowCountdown = h("span", { class: "countdown" });
      const how = {
        random: "Participants of the stage were spread over the rooms.",
        choice: "Pick a discussion room below and join it.",
        manual: "Moderators put participants into rooms.",
      }[round.mode];
      replaceChildren(
        this.now,
        h(
          "div",
          { class: "round-card" },
          h("h3", null, round.title),
          h("p", null, `${round.room_ids.length} rooms · `, this._nowCountdown),
          h("p", { class: "muted" }, how),
        ),
      );
    }
    setText(this._nowCountdown, `${formatDuration(left)} left`);
  }

  _applyFilter() {
    const query = this.filter.value.trim().toLowerCase();
    let shown = 0;
    for (const li of this.lists.get("booth").children) {
      const text = li.querySelector(".card-body").textContent.toLowerCase();
      const match = !query || text.includes(query);
      li.hidden = !match;
      if (match) shown += 1;
    }
    this.noMatch.hidden = shown > 0 || !query;
  }

  async _join(spaceId) {
    const result = await this.app.join(spaceId);
    if (result !== undefined && this.onJoin) this.onJoin(spaceId);
  }
}
