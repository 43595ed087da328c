/**
 * Resumption tokens (stored as hashes): a reconnect within the resumption window keeps the participant id. The
 * table belongs to the roster's migrations; the roster decides whether the window still holds.
 */
export class Resumptions {
  constructor(private readonly sql: SqlStorage) {}

  participantOf(hash: string): string | undefined {
    return this.sql
      .exec<{ participant_id: string }>("SELECT participant_id FROM resumptions WHERE hash = ?", hash)
      .toArray()[0]?.participant_id;
  }

  /** Stores a token hash; a participant keeps its few newest tokens (one per device). */
  add(participantId: string, hash: string, now: number): void {
    this.sql.exec(
      "INSERT INTO resumptions (hash, participant_id, created_at) VALUES (?, ?, ?)",
      hash,
      participantId,
      now,
    );
    this.sql.exec(
      `DELETE FROM resumptions WHERE participant_id = ? AND hash NOT IN
        (SELECT hash FROM resumptions WHERE participant_id = ? ORDER BY created_at DESC LIMIT 8)`,
      participantId,
      participantId,
    );
  }

  forget(participantId: string): void {
    this.sql.exec("DELETE FROM resumptions WHERE participant_id = ?", participantId);
  }
}
