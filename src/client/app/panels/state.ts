import type {
  JoinSuccess,
  MicrophoneRestrictions,
  Participant,
  ParticipantKind,
  RoomModerationState,
} from "../../../protocol";
import { t } from "../i18n";

/** The room's settings when join_success carries none (the moderation module could not tell): an open room. */
const OPEN_ROOM: RoomModerationState = { locked: false, waiting_room: "disabled", hands_enabled: true };
const UNRESTRICTED: MicrophoneRestrictions = { enabled: false, unrestricted: [] };

/** Owners and moderators: they moderate, and may always speak and write. */
export const isChair = (role: Participant["role"] | undefined) => role === "owner" || role === "moderator";

/** What several panels show: who is here and who this participant is. Panels that show it re-render on changes. */
export class RoomState {
  selfId = "";
  role: Participant["role"] = "guest";
  /** The room's moderation settings everyone sees (join_success, then moderation.room_state). */
  settings: RoomModerationState = OPEN_ROOM;
  /** Who may speak (join_success, then moderation.microphone_restrictions). */
  microphones: MicrophoneRestrictions = UNRESTRICTED;
  /** Whether chat is on for those who do not moderate (join_success, then chat.chat_state). */
  chatEnabled = true;
  private readonly participants = new Map<string, Participant>();
  private readonly listeners: (() => void)[] = [];

  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** join_success: this participant (whose kind the server does not repeat) and everyone else. */
  reset(joined: JoinSuccess, kind: ParticipantKind): void {
    this.selfId = joined.participant_id;
    this.role = joined.role;
    const moderation = joined.modules.moderation;
    this.settings = moderation
      ? { locked: moderation.locked, waiting_room: moderation.waiting_room, hands_enabled: moderation.hands_enabled }
      : OPEN_ROOM;
    this.microphones = moderation?.microphone_restrictions ?? UNRESTRICTED;
    this.chatEnabled = joined.modules.chat?.enabled ?? true;
    this.participants.clear();
    this.participants.set(this.selfId, {
      participant_id: this.selfId,
      display_name: joined.display_name,
      role: this.role,
      kind,
      joined_at: joined.joined_at,
      hand_raised_at: null,
    });
    this.put(joined.participants);
  }

  /** Adds participants or replaces them with their newer state (this participant's too: a new role counts). */
  put(participants: Participant[]): void {
    for (const p of participants) {
      this.participants.set(p.participant_id, p);
      if (p.participant_id === this.selfId) this.role = p.role;
    }
    this.notify();
  }

  /** This participant's new role, told by moderation.role_updated (which may come before control.update). */
  setRole(role: Participant["role"]): void {
    this.role = role;
    const self = this.participants.get(this.selfId);
    if (self) this.participants.set(this.selfId, { ...self, role });
    this.notify();
  }

  setSettings(settings: RoomModerationState): void {
    this.settings = settings;
    this.notify();
  }

  setMicrophones(microphones: MicrophoneRestrictions): void {
    this.microphones = microphones;
    this.notify();
  }

  setChatEnabled(enabled: boolean): void {
    if (enabled === this.chatEnabled) return;
    this.chatEnabled = enabled;
    this.notify();
  }

  remove(ids: string[]): void {
    for (const id of ids) this.participants.delete(id);
    this.notify();
  }

  get(id: string): Participant | undefined {
    return this.participants.get(id);
  }

  /** Raised hands first (longest raised first), then by name. */
  sorted(): Participant[] {
    return [...this.participants.values()].sort(
      (a, b) =>
        (a.hand_raised_at ?? "~").localeCompare(b.hand_raised_at ?? "~") ||
        a.display_name.localeCompare(b.display_name),
    );
  }

  /** Everyone but this participant, by name (whom a message or a permission can name). */
  others(): Participant[] {
    return [...this.participants.values()]
      .filter((p) => p.participant_id !== this.selfId)
      .sort((a, b) => a.display_name.localeCompare(b.display_name));
  }

  /** A participant's name as lists and tiles show it ("…" until presence names them). */
  shownName(id: string): string {
    return `${this.participants.get(id)?.display_name ?? "…"}${id === this.selfId ? ` (${t("you")})` : ""}`;
  }

  handRaised(id = this.selfId): boolean {
    return Boolean(this.participants.get(id)?.hand_raised_at);
  }

  moderates(): boolean {
    return isChair(this.role);
  }

  /**
   * Whether this participant's menu offers actions on `p`: chairs act on others, never on the owner, and on
   * moderators only as the owner (the rules the room enforces).
   */
  mayActOn(p: Participant): boolean {
    if (!this.moderates() || p.participant_id === this.selfId || p.role === "owner") return false;
    return p.role !== "moderator" || this.role === "owner";
  }

  /** Everyone may speak unless microphones are restricted; then chairs and those a chair allowed. */
  maySpeak(id = this.selfId): boolean {
    const { enabled, unrestricted } = this.microphones;
    return !enabled || unrestricted.includes(id) || isChair(id === this.selfId ? this.role : this.get(id)?.role);
  }

  /** Chairs write even while chat is off for everyone else. */
  mayChat(): boolean {
    return this.chatEnabled || this.moderates();
  }

  /** Hands may be raised while the room allows it; a raised hand may always be lowered. */
  mayToggleHand(): boolean {
    return this.settings.hands_enabled || this.handRaised();
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
  }
}
