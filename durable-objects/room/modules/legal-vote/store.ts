import {
  VOTE_PROTOCOL_FORMAT,
  type VoteDescription,
  type VoteEntry,
  type VoteEvent,
  type VoteHead,
  type VoteOption,
  type VoteProtocol,
  type VoteReceipt,
  type VoteResult,
  type VoteSummary,
} from "../../../../src/protocol";

/** The legal_vote module's tables (its migrations, append only). */
export const VOTE_MIGRATIONS = [
  `CREATE TABLE legal_votes (id TEXT PRIMARY KEY, started_at INTEGER NOT NULL, ended_at INTEGER,
    state TEXT NOT NULL, description TEXT NOT NULL, yes INTEGER NOT NULL DEFAULT 0, no INTEGER NOT NULL DEFAULT 0,
    abstain INTEGER NOT NULL DEFAULT 0, last_seq INTEGER NOT NULL, last_hash TEXT NOT NULL, result TEXT,
    signature TEXT, head TEXT)`,
  `CREATE TABLE legal_vote_entries (vote_id TEXT NOT NULL, seq INTEGER NOT NULL, prev TEXT NOT NULL, at TEXT,
    event TEXT NOT NULL, hash TEXT NOT NULL, PRIMARY KEY (vote_id, seq)) WITHOUT ROWID`,
  // Roll calls: who voted what (also in the chain), their receipt, and who is away; pseudonymous votes leave
  // `option` and `receipt` null.
  `CREATE TABLE legal_vote_voters (vote_id TEXT NOT NULL, participant_id TEXT NOT NULL, option TEXT,
    present INTEGER NOT NULL DEFAULT 1, receipt TEXT, PRIMARY KEY (vote_id, participant_id)) WITHOUT ROWID`,
  // Pseudonymous votes: the hashes of the tokens handed out, keyed by hash alone (no order, no owner).
  `CREATE TABLE legal_vote_tokens (vote_id TEXT NOT NULL, token_hash TEXT NOT NULL, used INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (vote_id, token_hash)) WITHOUT ROWID`,
  // The breakout group the vote was started in (null: the main room); see audience.ts.
  "ALTER TABLE legal_votes ADD COLUMN group_id TEXT",
];

export type VoteState = "running" | "stopped" | "canceled";

interface VoteRow extends Record<string, SqlStorageValue> {
  id: string;
  started_at: number;
  ended_at: number | null;
  state: VoteState;
  yes: number;
  no: number;
  abstain: number;
  last_seq: number;
  last_hash: string;
  result: string | null;
  signature: string | null;
  head: string | null;
  group_id: string | null;
}

/** A vote as the module works with it: its row with the description parsed. */
export interface StoredVote {
  id: string;
  state: VoteState;
  vote: VoteDescription;
  startedAt: number;
  endedAt: number | null;
  tally: { yes: number; no: number; abstain: number };
  last: Pick<VoteEntry, "seq" | "hash">;
  result: VoteResult | null;
  signature: string | null;
  /** The latest head signed while it ran (join_success hands it out without signing again). */
  head: VoteHead | null;
  /** The breakout group it was started in (null: the main room). */
  group: string | null;
}

/** Every column but the description (read once per vote and kept: it never changes, and a large one is costly). */
const COLUMNS =
  "id, started_at, ended_at, state, yes, no, abstain, last_seq, last_hash, result, signature, head, group_id";
/** Descriptions read so far, by vote id (bounded: a process holds many rooms). */
const descriptions = new Map<string, VoteDescription>();
const DESCRIPTIONS_KEPT = 64;

const toVote = (row: VoteRow, vote: VoteDescription): StoredVote => ({
  id: row.id,
  state: row.state,
  vote,
  startedAt: row.started_at,
  endedAt: row.ended_at,
  tally: { yes: row.yes, no: row.no, abstain: row.abstain },
  last: { seq: row.last_seq, hash: row.last_hash },
  result: row.result === null ? null : (JSON.parse(row.result) as VoteResult),
  signature: row.signature,
  head: row.head === null ? null : (JSON.parse(row.head) as VoteHead),
  group: row.group_id,
});

/** SQL of the module's tables; every write of one step runs without an await between, so it commits as one. */
export class VoteStore {
  constructor(private readonly sql: SqlStorage) {}

  running(): StoredVote | undefined {
    const row = this.sql.exec<VoteRow>(`SELECT ${COLUMNS} FROM legal_votes WHERE state = 'running'`).toArray()[0];
    return row && toVote(row, this.description(row.id));
  }

  get(voteId: string): StoredVote | undefined {
    const row = this.sql.exec<VoteRow>(`SELECT ${COLUMNS} FROM legal_votes WHERE id = ?`, voteId).toArray()[0];
    return row && toVote(row, this.description(row.id));
  }

  private description(voteId: string): VoteDescription {
    let vote = descriptions.get(voteId);
    if (!vote) {
      const text = this.sql
        .exec<{ description: string }>("SELECT description FROM legal_votes WHERE id = ?", voteId)
        .one().description;
      vote = JSON.parse(text) as VoteDescription;
      descriptions.set(voteId, vote);
      for (const old of descriptions.keys()) if (descriptions.size > DESCRIPTIONS_KEPT) descriptions.delete(old);
    }
    return vote;
  }

  any(): boolean {
    return this.sql.exec("SELECT 1 FROM legal_votes LIMIT 1").toArray().length > 0;
  }

  /** Newest first; `participantId`: only the votes they were eligible in. */
  list(participantId?: string): VoteSummary[] {
    const rows =
      participantId === undefined
        ? this.sql.exec<VoteRow>(`SELECT ${COLUMNS} FROM legal_votes ORDER BY started_at DESC`).toArray()
        : this.sql
            .exec<VoteRow>(
              `SELECT ${COLUMNS.replace(/\w+/g, "legal_votes.$&")} FROM legal_votes
               JOIN legal_vote_voters ON legal_vote_voters.vote_id = legal_votes.id
               WHERE legal_vote_voters.participant_id = ? ORDER BY started_at DESC`,
              participantId,
            )
            .toArray();
    return rows
      .map((row) => toVote(row, this.description(row.id)))
      .map((v) => ({
        vote_id: v.id,
        name: v.vote.name,
        kind: v.vote.kind,
        started_at: v.vote.started_at,
        stopped_at: v.endedAt === null ? null : new Date(v.endedAt).toISOString(),
        outcome: v.result?.outcome ?? null,
      }));
  }

  /**
   * Records a started vote: its row, its first entry, its eligible voters (whether each is connected now) and its
   * tokens' hashes.
   */
  create(
    vote: VoteDescription,
    first: VoteEntry,
    startedAt: number,
    tokenHashes: readonly string[],
    connected: (participantId: string) => boolean,
    group: string | null,
  ): void {
    this.sql.exec(
      `INSERT INTO legal_votes (id, started_at, state, description, last_seq, last_hash, group_id)
       VALUES (?, ?, 'running', ?, ?, ?, ?)`,
      vote.id,
      startedAt,
      JSON.stringify(vote),
      first.seq,
      first.hash,
      group,
    );
    this.insertEntry(vote.id, first);
    for (const person of vote.eligible) {
      this.sql.exec(
        "INSERT INTO legal_vote_voters (vote_id, participant_id, present) VALUES (?, ?, ?)",
        vote.id,
        person.participant_id,
        connected(person.participant_id) ? 1 : 0,
      );
    }
    for (const hash of tokenHashes) {
      this.sql.exec("INSERT INTO legal_vote_tokens (vote_id, token_hash) VALUES (?, ?)", vote.id, hash);
    }
  }

  /** Appends entries after the vote's last one (built by the caller on `last`). */
  append(voteId: string, entries: readonly VoteEntry[]): void {
    for (const entry of entries) this.insertEntry(voteId, entry);
    const last = entries[entries.length - 1];
    if (last) {
      this.sql.exec("UPDATE legal_votes SET last_seq = ?, last_hash = ? WHERE id = ?", last.seq, last.hash, voteId);
    }
  }

  /** A roll call's ballot: the voter's option (null: not yet voted). */
  optionOf(voteId: string, participantId: string): VoteOption | null | undefined {
    const row = this.sql
      .exec<{ option: VoteOption | null }>(
        "SELECT option FROM legal_vote_voters WHERE vote_id = ? AND participant_id = ?",
        voteId,
        participantId,
      )
      .toArray()[0];
    return row === undefined ? undefined : row.option;
  }

  /** The ballots of a roll call so far, by participant id. */
  ballots(voteId: string): { participant_id: string; option: VoteOption }[] {
    return this.sql
      .exec<{ participant_id: string; option: VoteOption }>(
        "SELECT participant_id, option FROM legal_vote_voters WHERE vote_id = ? AND option IS NOT NULL",
        voteId,
      )
      .toArray();
  }

  /** A roll call voter's receipt, handed out again when they reconnect. */
  saveReceipt(receipt: VoteReceipt, participantId: string): void {
    this.sql.exec(
      "UPDATE legal_vote_voters SET receipt = ? WHERE vote_id = ? AND participant_id = ?",
      JSON.stringify(receipt),
      receipt.vote_id,
      participantId,
    );
  }

  receiptOf(voteId: string, participantId: string): VoteReceipt | undefined {
    const row = this.sql
      .exec<{ receipt: string | null }>(
        "SELECT receipt FROM legal_vote_voters WHERE vote_id = ? AND participant_id = ?",
        voteId,
        participantId,
      )
      .toArray()[0];
    return row?.receipt ? (JSON.parse(row.receipt) as VoteReceipt) : undefined;
  }

  recordOption(voteId: string, participantId: string, option: VoteOption): void {
    this.sql.exec(
      "UPDATE legal_vote_voters SET option = ? WHERE vote_id = ? AND participant_id = ?",
      option,
      voteId,
      participantId,
    );
  }

  addTally(voteId: string, tally: { yes: number; no: number; abstain: number }): void {
    this.sql.exec(
      "UPDATE legal_votes SET yes = yes + ?, no = no + ?, abstain = abstain + ? WHERE id = ?",
      tally.yes,
      tally.no,
      tally.abstain,
      voteId,
    );
  }

  /** A token of this vote: unknown, unused or used. */
  tokenState(voteId: string, tokenHash: string): "unknown" | "unused" | "used" {
    const row = this.sql
      .exec<{ used: number }>(
        "SELECT used FROM legal_vote_tokens WHERE vote_id = ? AND token_hash = ?",
        voteId,
        tokenHash,
      )
      .toArray()[0];
    return row === undefined ? "unknown" : row.used === 1 ? "used" : "unused";
  }

  useToken(voteId: string, tokenHash: string): void {
    this.sql.exec("UPDATE legal_vote_tokens SET used = 1 WHERE vote_id = ? AND token_hash = ?", voteId, tokenHash);
  }

  /** Whether a roll call's voter was last recorded as in the room. */
  presentOf(voteId: string, participantId: string): boolean {
    const row = this.sql
      .exec<{ present: number }>(
        "SELECT present FROM legal_vote_voters WHERE vote_id = ? AND participant_id = ?",
        voteId,
        participantId,
      )
      .toArray()[0];
    return row?.present === 1;
  }

  setPresent(voteId: string, participantId: string, present: boolean): void {
    this.sql.exec(
      "UPDATE legal_vote_voters SET present = ? WHERE vote_id = ? AND participant_id = ?",
      present ? 1 : 0,
      voteId,
      participantId,
    );
  }

  end(voteId: string, state: Exclude<VoteState, "running">, endedAt: number, result: VoteResult): void {
    this.sql.exec(
      "UPDATE legal_votes SET state = ?, ended_at = ?, result = ? WHERE id = ?",
      state,
      endedAt,
      JSON.stringify(result),
      voteId,
    );
  }

  saveSignature(voteId: string, signature: string): void {
    this.sql.exec("UPDATE legal_votes SET signature = ? WHERE id = ?", signature, voteId);
  }

  /** Keeps the newest head signed so far. */
  saveHead(head: VoteHead): void {
    this.sql.exec(
      "UPDATE legal_votes SET head = ? WHERE id = ? AND (head IS NULL OR json_extract(head, '$.seq') < ?)",
      JSON.stringify(head),
      head.vote_id,
      head.seq,
    );
  }

  entries(voteId: string): VoteEntry[] {
    return this.sql
      .exec<{ seq: number; prev: string; at: string | null; event: string; hash: string }>(
        "SELECT seq, prev, at, event, hash FROM legal_vote_entries WHERE vote_id = ? ORDER BY seq",
        voteId,
      )
      .toArray()
      .map((row) => ({ ...row, event: JSON.parse(row.event) as VoteEvent }));
  }

  /** The protocol document of an ended vote (its signature given when not stored yet). */
  protocol(vote: StoredVote, signature: string): VoteProtocol {
    return {
      format: VOTE_PROTOCOL_FORMAT,
      vote: vote.vote,
      entries: this.entries(vote.id),
      result: vote.result!,
      head: vote.last.hash,
      signature,
    };
  }

  private insertEntry(voteId: string, entry: VoteEntry): void {
    this.sql.exec(
      "INSERT INTO legal_vote_entries (vote_id, seq, prev, at, event, hash) VALUES (?, ?, ?, ?, ?, ?)",
      voteId,
      entry.seq,
      entry.prev,
      entry.at,
      JSON.stringify(entry.event),
      entry.hash,
    );
  }
}
