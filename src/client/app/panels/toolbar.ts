import { fill, h } from "../dom";
import { t } from "../i18n";
import type { StagePanel } from "./stage";
import type { RoomState } from "./state";

/**
 * The room's toolbar: microphone, camera, screen share, hand, leave, and the device choice. The hand is unavailable
 * (aria-disabled, so it stays in the tab order with its reason) while the room has hands switched off.
 */
export class Toolbar {
  private readonly element = h("div", { class: "controls", role: "toolbar", "aria-label": t("devices") });

  constructor(
    private readonly state: RoomState,
    private readonly stage: StagePanel,
    private readonly actions: { toggleHand(): void; leave(): void },
  ) {
    state.onChange(() => this.update());
  }

  /** Rebuilt with the layout only (a language change): rebuilding on each update would move a keyboard user's focus. */
  view(): HTMLElement {
    const toggle = (id: string, label: string, onclick: () => void) =>
      h("button", { type: "button", id, "aria-pressed": "false", onclick }, label);
    this.element.setAttribute("aria-label", t("devices"));
    fill(
      this.element,
      toggle("toggle-mic", t("micOn"), () => this.stage.setEnabled("audio", !this.stage.localOn("audio"))),
      toggle("toggle-camera", t("camOn"), () => this.stage.setEnabled("video", !this.stage.localOn("video"))),
      toggle("toggle-screen", t("screenShare"), () => void this.stage.toggleScreen()),
      toggle("toggle-hand", t("raiseHand"), () => this.actions.toggleHand()),
      h("span", { id: "hand-hint", class: "hint", hidden: true }, t("handsOff")),
      h("button", { type: "button", id: "leave", class: "danger", onclick: () => this.actions.leave() }, t("leave")),
      h("div", { id: "devices", class: "devices" }),
    );
    this.update();
    void this.renderDevices();
    return this.element;
  }

  /** The toggles show their state through aria-pressed; the hand also whether it may be raised. */
  update(): void {
    const pressed = (id: string, on: boolean) =>
      this.element.querySelector(`#${id}`)?.setAttribute("aria-pressed", String(on));
    pressed("toggle-mic", this.stage.localOn("audio"));
    pressed("toggle-camera", this.stage.localOn("video"));
    pressed("toggle-screen", this.stage.sharingScreen);
    pressed("toggle-hand", this.state.handRaised());
    const hand = this.element.querySelector("#toggle-hand");
    const hint = this.element.querySelector<HTMLElement>("#hand-hint");
    if (!hand || !hint) return;
    const blocked = !this.state.mayToggleHand();
    hand.setAttribute("aria-disabled", String(blocked));
    if (blocked) hand.setAttribute("aria-describedby", "hand-hint");
    else hand.removeAttribute("aria-describedby");
    hint.hidden = !blocked;
  }

  /** Microphone and camera choice, once the camera is on. */
  async renderDevices(): Promise<void> {
    const target = this.element.querySelector("#devices");
    const camera = this.stage.camera;
    if (!target || !camera) return;
    const devices = await navigator.mediaDevices.enumerateDevices();
    const select = (kind: "audioinput" | "videoinput", id: string, label: string) => {
      const current = (kind === "audioinput" ? camera.getAudioTracks() : camera.getVideoTracks())[0]?.getSettings()
        .deviceId;
      const element = h(
        "select",
        { id, onchange: () => void this.stage.switchDevice(kind, element.value) },
        ...devices
          .filter((d) => d.kind === kind)
          .map((d, i) =>
            h("option", { value: d.deviceId, selected: d.deviceId === current }, d.label || `${label} ${i + 1}`),
          ),
      );
      return h("span", {}, h("label", { for: id }, label), element);
    };
    fill(
      target,
      select("audioinput", "select-microphone", t("microphone")),
      select("videoinput", "select-camera", t("camera")),
    );
  }
}
