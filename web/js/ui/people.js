// Who is in my space (listed for small spaces; a count for large ones).

import { h, plural, replaceChildren, setText } from "../dom.js";
import { muteBadges } from "./tiles.js";

export class PeoplePanel {
  constructor(root, app, side) {
    this.root = root;
    this.app = app;
    this.side = side;
    this.summary = h("p", { class: "muted" });
    this.list = h("ul", { class: "people-list", id: "people-list" });
    replaceChildren(root, this.summary, this.list);
    app.store.addEventListener("change", (e) => {
      if (e.detail.has("members") || e.detail.has("space") || e.detail.has("counts")) this._render();
    });
  }

  _render() {
    const store = this.app.store;
    const space = store.space;
    if (!space) return;
    const members = store.members;
    if (!members) {
      setText(
        this.summary,
        `${plural(store.memberCount, "person", "people")} in ${space.title}: too many to list.`,
      );
      replaceChildren(this.list);
      return;
    }
    setText(this.summary, `${plural(members.size, "person", "people")} in ${space.title}`);
    const me = store.me?.id;
    const rows = Array.from(members.values())
      .sort((a, b) => (a.id === me ? -1 : b.id === me ? 1 : a.name.localeCompare(b.name)))
      .map((m) => {
        const row = h(
          "li",
          { "data-participant-id": m.id },
          h("span", { class: "person-name" }, m.id === me ? `${m.name} (you)` : m.name),
          m.role !== "attendee" ? h("span", { class: "badge" }, m.role) : null,
          m.id === me ? null : muteBadges(Boolean(m.muted_audio), Boolean(m.muted_video)),
        );
        if (store.isStaff && m.id !== me && this.side.console) {
          const manage = h(
            "button",
            { type: "button", class: "link", "aria-label": `Manage ${m.name}` },
            "Manage",
          );
          manage.addEventListener("click", () => {
            this.side.console.pick(m.id);
            this.side.select("console");
          });
          row.append(manage);
        }
        return row;
      });
    replaceChildren(this.list, rows);
  }
}
