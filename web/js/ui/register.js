// The entry: pick a display name (free, no password), or paste a moderator token.

import { h, replaceChildren, setText } from "../dom.js";

export class RegisterView {
  constructor(root, app) {
    this.root = root;
    this.app = app;
    const maxName = app.protocol.limit("MAX_NAME_CHARS", 64);
    const maxToken = app.protocol.limit("MAX_TOKEN_CHARS", 4096);
    this.title = h("h1", { tabindex: "-1" }, "Welcome to the summit");
    this.intro = h("p", { class: "lead" }, "Loading the programme…");
    this.stats = h("p", { class: "muted" });
    this.error = h("p", { class: "form-error", role: "alert" });
    this.name = h("input", {
      id: "register-name",
      name: "name",
      type: "text",
      required: true,
      maxlength: maxName,
      autocomplete: "nickname",
      placeholder: "e.g. Ada Obi",
    });
    this.submit = h("button", { type: "submit", class: "primary" }, "Enter the event");
    const form = h(
      "form",
      { class: "register-form", novalidate: true },
      h("label", { for: "register-name" }, "Your display name"),
      h("p", { class: "hint", id: "register-hint" }, "Shown to others on your video tile and in the chat."),
      this.name,
      this.submit,
    );
    this.name.setAttribute("aria-describedby", "register-hint");
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      this._register();
    });
    this.token = h("textarea", {
      id: "register-token",
      rows: "3",
      maxlength: maxToken,
      spellcheck: "false",
      autocomplete: "off",
    });
    const tokenForm = h(
      "form",
      { class: "token-form" },
      h("label", { for: "register-token" }, "Sign-in token"),
      this.token,
      h("button", { type: "submit" }, "Sign in with token"),
    );
    tokenForm.addEventListener("submit", (e) => {
      e.preventDefault();
      const token = this.token.value.trim();
      if (!token) {
        this._fail("Paste the token you were given first.");
        this.token.focus();
        return;
      }
      this.app.startSession(token);
    });
    replaceChildren(
      root,
      h(
        "div",
        { class: "panel narrow register" },
        this.title,
        this.intro,
        this.stats,
        this.error,
        form,
        h(
          "details",
          { class: "token-details" },
          h("summary", null, "Moderator or speaker? Sign in with a token"),
          tokenForm,
        ),
      ),
    );
  }

  show(error = "") {
    this._fail(error);
    this._loadEvent();
    queueMicrotask(() => this.name.focus());
  }

  _fail(text) {
    setText(this.error, text);
    this.error.hidden = !text;
    this.name.setAttribute("aria-invalid", String(Boolean(text)));
  }

  async _loadEvent() {
    try {
      const response = await fetch("/api/event", { cache: "no-cache" });
      if (!response.ok) throw new Error(String(response.status));
      const data = await response.json();
      setText(this.title, `Welcome to ${data.event.title}`);
      setText(this.intro, data.event.description || "");
      const spaces = data.spaces || [];
      const booths = spaces.filter((s) => s.kind === "booth").length;
      const online = data.event.participants ?? 0;
      setText(
        this.stats,
        `${online} ${online === 1 ? "person is" : "people are"} here now · ${booths} project booths`,
      );
      document.title = data.event.title;
    } catch {
      setText(this.intro, "The event server cannot be reached right now. You can still try to enter.");
    }
  }

  async _register() {
    const name = this.name.value.trim();
    if (!name) {
      this._fail("Please enter a display name.");
      this.name.focus();
      return;
    }
    this._fail("");
    this.submit.disabled = true;
    setText(this.submit, "Entering…");
    try {
      const response = await fetch("/api/register", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ name }),
      });
      const data = await response.json().catch(() => ({}));
      if (!response.ok) {
        throw new Error(data?.error?.message || `registration failed (${response.status})`);
      }
      this.app.startSession(data.token);
    } catch (err) {
      const offline = err instanceof TypeError;
      this._fail(offline ? "The event server cannot be reached. Check your connection and try again." : err.message);
      this.name.focus();
    } finally {
      this.submit.disabled = false;
      setText(this.submit, "Enter the event");
    }
  }
}
