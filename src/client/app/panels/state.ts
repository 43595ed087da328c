import type { JoinSuccess, Participant, ParticipantKind } from "../../../protocol";
import { t } from "../i18n";

/** What several panels show: who is here and who this participant is. Panels that show it re-render on changes. */
export class RoomState {
  selfId = "";
  role: Participant["role"] = "guest";
  private readonly participants = new Map<string, Participant>();
  private readonly listeners: (() => void)[] = [];

  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** join_success: this participant (whose kind the server does not repeat) and everyone else. */
  reset(joined: JoinSuccess, kind: ParticipantKind): void {
    this.selfId = joined.participant_id;
    this.role = joined.role;
    this.participants.clear();
    this.participants.set(this.selfId, {
      participant_id: this.selfId,
      display_name: joined.display_name,
      role: this.role,
      kind,
      joined_at: "",
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

  /** A participant's name as lists and tiles show it ("…" until presence names them). */
  shownName(id: string): string {
    return `${this.participants.get(id)?.display_name ?? "…"}${id === this.selfId ? ` (${t("you")})` : ""}`;
  }

  handRaised(id = this.selfId): boolean {
    return Boolean(this.participants.get(id)?.hand_raised_at);
  }

  moderates(): boolean {
    return this.role === "owner" || this.role === "moderator";
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
  }
}
