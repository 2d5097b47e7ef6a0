// Chat of my space plus the event-wide chat. Every message is inserted as text.

import { formatClock, h, replaceChildren, setText } from "../dom.js";

const SHOW_AT_MOST = 300;

export class ChatPanel {
  constructor(root, app) {
    this.root = root;
    this.app = app;
    this.rendered = []; // ids shown, in order
    const max = app.protocol.limit("MAX_CHAT_CHARS", 2000);
    this.list = h("ol", {
      class: "chat-list",
      id: "chat-list",
      "aria-label": "Chat messages",
      "aria-live": "polite",
      "aria-relevant": "additions",
    });
    this.empty = h("p", { class: "muted chat-empty" }, "No messages yet. Say hello!");
    this.input = h("input", {
      id: "chat-input",
      type: "text",
      maxlength: max,
      autocomplete: "off",
      placeholder: "Write a message",
    });
    this.scope = h(
      "select",
      { id: "chat-scope", "aria-label": "Send to" },
      h("option", { value: "space" }, "This room"),
      h("option", { value: "event" }, "Everyone"),
    );
    this.send = h("button", { type: "submit", class: "primary" }, "Send");
    const form = h(
      "form",
      { class: "chat-form" },
      h("label", { for: "chat-input", class: "sr-only" }, "Message"),
      this.input,
      this.scope,
      this.send,
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      this._send();
    });
    replaceChildren(root, this.list, this.empty, form);
    app.store.addEventListener("change", (e) => {
      if (e.detail.has("chat")) this._render();
      if (e.detail.has("space")) this._placeholder();
    });
  }

  _placeholder() {
    const space = this.app.store.space;
    this.input.placeholder = space ? `Message ${space.title}` : "Write a message";
    this.scope.options[0].textContent = space?.kind === "lobby" ? "Lobby" : "This room";
  }

  async _send() {
    const text = this.input.value.trim();
    if (!text) return;
    this.send.disabled = true;
    const result = await this.app.act({ type: "chat", text, scope: this.scope.value });
    this.send.disabled = false;
    if (result !== undefined) this.input.value = "";
    this.input.focus();
  }

  _render() {
    const lines = this.app.store.chatLines().slice(-SHOW_AT_MOST);
    const ids = lines.map((c) => c.id);
    const nearBottom =
      this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 80;
    const isAppend =
      this.rendered.length > 0 &&
      this.rendered.length <= ids.length &&
      this.rendered.every((id, i) => ids[i] === id);
    if (isAppend) {
      for (const line of lines.slice(this.rendered.length)) this.list.append(this._line(line));
    } else {
      replaceChildren(this.list, lines.map((c) => this._line(c)));
    }
    this.rendered = ids;
    this.empty.hidden = lines.length > 0;
    if (nearBottom || !isAppend) this.list.scrollTop = this.list.scrollHeight;
  }

  _line(c) {
    const mine = c.sender_id === this.app.store.me?.id;
    const name = h("span", { class: "chat-name" }, c.sender_name);
    const time = h("time", { datetime: new Date(c.sent_at * 1000).toISOString() }, formatClock(c.sent_at));
    const scope = c.scope === "event" ? h("span", { class: "badge" }, "everyone") : null;
    const text = h("p", { class: "chat-text" });
    setText(text, c.text);
    return h(
      "li",
      { class: `chat-line${mine ? " mine" : ""}`, "data-id": c.id },
      h("div", { class: "chat-meta" }, name, scope, time),
      text,
    );
  }
}
