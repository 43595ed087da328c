import type { Signaling } from "../../signaling";
import { fill, h } from "../dom";
import { t } from "../i18n";
import type { StagePanel } from "./stage";
import type { RoomState } from "./state";

/**
 * The room's toolbar: microphone, camera, screen share, hand, leave, and the device choice. The hand is unavailable
 * (aria-disabled, so it stays in the tab order with its reason) while the room has hands switched off, and so is
 * the microphone while it is restricted and this participant may not speak. Under it, who muted this participant's
 * microphone (moderation.muted), until they switch it on again.
 */
export class Toolbar {
  private readonly element = h("div", { class: "controls", role: "toolbar", "aria-label": t("devices") });
  /** A live region from the start (one added with its text may go unannounced); the notice goes inside. */
  private readonly notice = h("div", { id: "mic-notice", role: "status" });
  /** Who muted this participant (their name then), while the microphone stays off. */
  private mutedBy: string | undefined;

  constructor(
    private readonly state: RoomState,
    private readonly stage: StagePanel,
    private readonly actions: { toggleHand(): void; leave(): void },
  ) {
    state.onChange(() => this.update());
  }

  listen(signaling: Signaling): void {
    signaling.on("moderation", "muted", ({ by }) => {
      this.mutedBy = this.state.get(by)?.display_name ?? "…";
      this.stage.setEnabled("audio", false);
      this.showNotice();
    });
  }

  /** Rebuilt with the layout only (a language change): rebuilding on each update would move a keyboard user's focus. */
  view(): HTMLElement {
    const toggle = (id: string, label: string, onclick: () => void) =>
      h("button", { type: "button", id, "aria-pressed": "false", onclick }, label);
    this.element.setAttribute("aria-label", t("devices"));
    fill(
      this.element,
      toggle("toggle-mic", t("micOn"), () => this.stage.setEnabled("audio", !this.stage.localOn("audio"))),
      h("span", { id: "mic-hint", class: "hint", hidden: true }, t("micRestricted")),
      toggle("toggle-camera", t("camOn"), () => this.stage.setEnabled("video", !this.stage.localOn("video"))),
      toggle("toggle-screen", t("screenShare"), () => void this.stage.toggleScreen()),
      toggle("toggle-hand", t("raiseHand"), () => this.actions.toggleHand()),
      h("span", { id: "hand-hint", class: "hint", hidden: true }, t("handsOff")),
      h("button", { type: "button", id: "leave", class: "danger", onclick: () => this.actions.leave() }, t("leave")),
      h("div", { id: "devices", class: "devices" }),
    );
    this.update();
    this.showNotice();
    void this.renderDevices();
    return h("div", {}, this.element, this.notice);
  }

  /** The toggles show their state through aria-pressed; the hand also whether it may be raised. */
  update(): void {
    const pressed = (id: string, on: boolean) =>
      this.element.querySelector(`#${id}`)?.setAttribute("aria-pressed", String(on));
    pressed("toggle-mic", this.stage.localOn("audio"));
    pressed("toggle-camera", this.stage.localOn("video"));
    pressed("toggle-screen", this.stage.sharingScreen);
    pressed("toggle-hand", this.state.handRaised());
    this.blocked("toggle-mic", "mic-hint", !this.state.maySpeak());
    this.blocked("toggle-hand", "hand-hint", !this.state.mayToggleHand());
    if (this.mutedBy !== undefined && this.stage.localOn("audio")) {
      this.mutedBy = undefined;
      this.showNotice();
    }
  }

  /** A button that is unavailable says so (aria-disabled: it stays in the tab order) and why (its hint). */
  private blocked(id: string, hintId: string, blocked: boolean): void {
    const button = this.element.querySelector(`#${id}`);
    const hint = this.element.querySelector<HTMLElement>(`#${hintId}`);
    if (!button || !hint) return;
    button.setAttribute("aria-disabled", String(blocked));
    if (blocked) button.setAttribute("aria-describedby", hintId);
    else button.removeAttribute("aria-describedby");
    hint.hidden = !blocked;
  }

  /** Written anew each time, so a second muting is announced too. */
  private showNotice(): void {
    fill(
      this.notice,
      this.mutedBy === undefined ? null : h("p", { class: "notice" }, t("mutedBy", { name: this.mutedBy })),
    );
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
