// The side panel: chat, the people here, and (for moderators and hosts) the console.
// Tabs follow the WAI-ARIA tabs pattern: arrow keys move between them.

import { h, replaceChildren, setText } from "../dom.js";
import { ChatPanel } from "./chat.js";
import { PeoplePanel } from "./people.js";
import { ModeratorConsole } from "./console.js";

export class SidePanel {
  constructor(root, app) {
    this.root = root;
    this.app = app;
    this.tabs = [];
    this.tablist = h("div", { class: "tabs", role: "tablist", "aria-label": "Side panel" });
    this.panels = h("div", { class: "tab-panels" });
    replaceChildren(root, this.tablist, this.panels);

    this.chat = new ChatPanel(this._addTab("chat", "Chat"), app);
    this.peopleCount = h("span", { class: "tab-count" });
    this.people = new PeoplePanel(this._addTab("people", "People", this.peopleCount), app, this);
    this.console = null;
    this._select("chat", false);

    app.store.addEventListener("change", (e) => {
      if (e.detail.has("me") && app.store.isStaff && !this.console) {
        this.console = new ModeratorConsole(this._addTab("console", "Moderate"), app);
      }
      if (e.detail.has("members") || e.detail.has("counts") || e.detail.has("space")) {
        setText(this.peopleCount, String(app.store.memberCount));
      }
    });
  }

  _addTab(key, label, ...extra) {
    const tab = h(
      "button",
      {
        type: "button",
        role: "tab",
        id: `tab-${key}`,
        "aria-controls": `panel-${key}`,
        "aria-selected": "false",
        tabindex: "-1",
      },
      label,
      extra.length ? " " : "",
      ...extra,
    );
    const panel = h("div", {
      role: "tabpanel",
      id: `panel-${key}`,
      "aria-labelledby": `tab-${key}`,
      class: `tab-panel panel-${key}`,
      hidden: true,
    });
    tab.addEventListener("click", () => this._select(key));
    tab.addEventListener("keydown", (e) => this._keys(e));
    this.tabs.push({ key, tab, panel });
    this.tablist.append(tab);
    this.panels.append(panel);
    return panel;
  }

  /** Show a tab (used by the people list to open the console on a person). */
  select(key) {
    this._select(key);
  }

  _select(key, focus = true) {
    for (const t of this.tabs) {
      const on = t.key === key;
      t.tab.setAttribute("aria-selected", String(on));
      t.tab.tabIndex = on ? 0 : -1;
      t.panel.hidden = !on;
      if (on && focus) t.tab.focus();
    }
    this.current = key;
  }

  _keys(event) {
    const index = this.tabs.findIndex((t) => t.tab === event.currentTarget);
    let next = null;
    if (event.key === "ArrowRight") next = (index + 1) % this.tabs.length;
    else if (event.key === "ArrowLeft") next = (index - 1 + this.tabs.length) % this.tabs.length;
    else if (event.key === "Home") next = 0;
    else if (event.key === "End") next = this.tabs.length - 1;
    if (next !== null) {
      event.preventDefault();
      this._select(this.tabs[next].key);
    }
  }
}
