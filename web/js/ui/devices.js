// Device choice: which camera and microphone to use, with a preview and a level meter.

import { h, replaceChildren, setText } from "../dom.js";

export class DeviceDialog {
  constructor(app) {
    this.app = app;
    this.camera = h("select", { id: "device-camera" });
    this.mic = h("select", { id: "device-mic" });
    this.preview = h("video", { class: "preview mirror", autoplay: true, playsinline: true, muted: true });
    this.meter = h("meter", { id: "mic-level", min: "0", max: "1", value: "0", "aria-label": "Microphone level" });
    this.note = h("p", { class: "muted", role: "status" });
    const close = h("button", { type: "button", class: "primary" }, "Done");
    this.dialog = h(
      "dialog",
      { class: "dialog devices", "aria-labelledby": "devices-title" },
      h("h2", { id: "devices-title" }, "Camera and microphone"),
      this.preview,
      h("label", { for: "device-camera" }, "Camera"),
      this.camera,
      h("label", { for: "device-mic" }, "Microphone"),
      this.mic,
      h("label", { for: "mic-level" }, "Microphone level"),
      this.meter,
      this.note,
      h("div", { class: "dialog-actions" }, close),
    );
    document.body.append(this.dialog);
    close.addEventListener("click", () => this.dialog.close());
    this.camera.addEventListener("change", () => this._choose("videoinput", this.camera.value));
    this.mic.addEventListener("change", () => this._choose("audioinput", this.mic.value));
    app.addEventListener("media", () => this.dialog.open && this._render());
    app.addEventListener("level", () => {
      if (this.dialog.open) this.meter.value = app.local.level;
    });
  }

  async open() {
    const local = this.app.local;
    if (local.state === "off") await local.start();
    else await local.refreshDevices();
    this._render();
    this.dialog.showModal();
  }

  async _choose(kind, deviceId) {
    try {
      await this.app.local.chooseDevice(kind, deviceId);
    } catch (err) {
      this.app.toasts.show(`That device could not be used: ${err.message}`, "error");
    }
  }

  _fill(select, devices, chosen, noun) {
    const options = devices.map((d, i) =>
      h("option", { value: d.deviceId, selected: d.deviceId === chosen }, d.label || `${noun} ${i + 1}`),
    );
    if (!options.length) options.push(h("option", { value: "" }, `No ${noun.toLowerCase()} found`));
    replaceChildren(select, options);
    select.disabled = !devices.length;
  }

  _render() {
    const local = this.app.local;
    this._fill(this.camera, local.devices.videoinput, local.choice.videoinput, "Camera");
    this._fill(this.mic, local.devices.audioinput, local.choice.audioinput, "Microphone");
    const stream = local.hasVideo ? local.stream : null;
    if (this.preview.srcObject !== stream) this.preview.srcObject = stream;
    this.preview.hidden = !stream;
    setText(this.note, local.error || (local.cameraOff ? "Your camera is off." : ""));
  }
}
