// What is left when a session ends for good: removed by a moderator, or opened elsewhere.

import { h, replaceChildren } from "../dom.js";

export class EndedView {
  constructor(root, app) {
    this.root = root;
    this.app = app;
  }

  show(reason, detail = "") {
    const app = this.app;
    if (reason === "removed") {
      replaceChildren(
        this.root,
        h(
          "div",
          { class: "panel narrow" },
          h("h1", { tabindex: "-1" }, "You were removed from the event"),
          h("p", null, "A moderator removed you from this event."),
          detail ? h("p", { class: "quote" }, `Reason: ${detail}`) : null,
          h("p", { class: "muted" }, "If you think this was a mistake, contact the organisers."),
        ),
      );
    } else {
      const useHere = h("button", { type: "button", class: "primary" }, "Use Podium here");
      useHere.addEventListener("click", () => app.startSession(app.token));
      replaceChildren(
        this.root,
        h(
          "div",
          { class: "panel narrow" },
          h("h1", { tabindex: "-1" }, "Podium is open somewhere else"),
          h(
            "p",
            null,
            "You signed in from another tab or device, so this one was disconnected. " +
              "Only one connection per person can be in the event at a time.",
          ),
          useHere,
        ),
      );
    }
    queueMicrotask(() => this.root.querySelector("h1")?.focus());
  }
}
