// Short-lived messages: confirmations and errors of the user's own actions.

import { h } from "../dom.js";

const KEEP_MS = { info: 5000, error: 8000 };

export class Toasts {
  constructor(root) {
    this.root = root;
  }

  show(text, kind = "info") {
    const close = h("button", { type: "button", class: "toast-close", "aria-label": "Dismiss" }, "×");
    const toast = h(
      "div",
      { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status" },
      h("span", { class: "toast-text" }, text),
      close,
    );
    const remove = () => toast.remove();
    close.addEventListener("click", remove);
    this.root.append(toast);
    while (this.root.children.length > 4) this.root.firstElementChild.remove();
    window.setTimeout(remove, KEEP_MS[kind] || KEEP_MS.info);
  }
}
