import { connect } from "cloudflare:sockets";
import { fail, ok, type Result } from "../src/protocol";
import type { NodeHealth, TurnSecret, TurnSecretList } from "../src/protocol/turn";
import { Resealing, resealAll, SEALED_PURPOSE } from "../src/shared/sealing";
import { randomToken, sha256 } from "../src/shared/secrets";
import { isoOrNull } from "../src/shared/time";
import { type TurnMaterial, turnMaterialChanged } from "../src/shared/turn-grants";
import { nodeUrls, probeAddress, type TurnNode } from "../turn/fleet";
import { type KeyringAction, type SecretState, transition } from "../turn/keyring";
import { bindingRequest, isBindingSuccess, STUN_HEADER_BYTES } from "../turn/stun";
import { SqlObject } from "./sql-object";

interface SecretRow extends Record<string, SqlStorageValue> {
  id: string;
  /** Sealed with STATE_ENCRYPTION_KEY when one is configured (src/shared/sealing.ts); null once removed. */
  value: string | null;
  fingerprint: string;
  state: SecretState;
  created_at: number;
  activated_at: number | null;
  retired_at: number | null;
  removed_at: number | null;
}

interface HealthRow extends Record<string, SqlStorageValue> {
  node_id: string;
  healthy: number;
  failures: number;
  successes: number;
  checked_at: number | null;
  rtt_ms: number | null;
  error: string | null;
}

/**
 * The coturn fleet's state, one instance: the shared-secret keyring (values never leave this object) and each
 * node's health from an alarm-driven STUN probe. It mints TURN REST credentials, so signing always uses the
 * currently active secret and only healthy nodes are handed out. Secret values are stored sealed when
 * STATE_ENCRYPTION_KEY is set, and opened only to mint.
 */
export class TurnFleetObject extends SqlObject {
  private readonly resealing = new Resealing("turn fleet: stored secrets", () => this.resealStored());

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env, "turn_fleet", [
      `CREATE TABLE secrets (id TEXT PRIMARY KEY, value TEXT, fingerprint TEXT NOT NULL, state TEXT NOT NULL,
        created_at INTEGER NOT NULL, activated_at INTEGER, retired_at INTEGER, removed_at INTEGER)`,
      `CREATE TABLE node_health (node_id TEXT PRIMARY KEY, healthy INTEGER NOT NULL, failures INTEGER NOT NULL,
        successes INTEGER NOT NULL, checked_at INTEGER, rtt_ms INTEGER, error TEXT)`,
    ]);
    // Legacy plaintext and values sealed under an older key are sealed again before the first request.
    ctx.blockConcurrencyWhile(() => this.resealing.onLoad());
    // Probing runs only while there are nodes to watch; the first use after a start arms it.
    if (this.config.TURN_NODES.length > 0) {
      ctx.blockConcurrencyWhile(async () => {
        if ((await ctx.storage.getAlarm()) === null) await ctx.storage.setAlarm(Date.now());
      });
    }
  }

  // ── Credentials ────────────────────────────────

  /**
   * What rooms and the worker mint credentials with (src/shared/turn-grants.ts): the active secret, opened, and the
   * nodes that are down. A value that cannot be opened (its key is not configured) fails with the key id.
   */
  async material(): Promise<TurnMaterial> {
    const stored = this.sql
      .exec<{ value: string }>("SELECT value FROM secrets WHERE state = 'active'")
      .toArray()[0]?.value;
    const secret =
      stored === undefined ? undefined : await (await this.sealer()).open(stored, SEALED_PURPOSE.turnSecret);
    const down = this.sql.exec<{ node_id: string }>("SELECT node_id FROM node_health WHERE healthy = 0").toArray();
    return { secret, down: down.map((r) => r.node_id) };
  }

  // ── Keyring (operator) ─────────────────────────────

  secrets(): TurnSecretList {
    const rows = this.sql.exec<SecretRow>("SELECT * FROM secrets ORDER BY created_at").toArray();
    const ttl = this.config.TURN_TTL_SECONDS;
    return {
      credential_ttl_seconds: ttl,
      removal_delay_seconds: ttl + this.config.TURN_MATERIAL_CACHE_SECONDS,
      secrets: rows.map(describe),
    };
  }

  /** Adds a secret as `staged` (or `active` with `activate`); a generated value is returned this once only. */
  async addSecret(value: string | undefined, activate: boolean): Promise<Result<TurnSecret & { secret?: string }>> {
    const secret = value ?? randomToken(32);
    const fingerprint = (await sha256(secret)).slice(0, 16);
    const sealed = await (await this.sealer()).seal(secret, SEALED_PURPOSE.turnSecret);
    const clash = this.sql
      .exec("SELECT id FROM secrets WHERE fingerprint = ? AND state != 'removed'", fingerprint)
      .toArray();
    if (clash.length > 0) return fail("conflict", "this secret is already in the keyring");
    const id = randomToken(9);
    this.sql.exec(
      "INSERT INTO secrets (id, value, fingerprint, state, created_at) VALUES (?, ?, ?, 'staged', ?)",
      id,
      sealed,
      fingerprint,
      Date.now(),
    );
    if (activate) this.change(id, "activate");
    const row = this.row(id)!;
    return ok(value === undefined ? { ...describe(row), secret } : describe(row));
  }

  change(id: string, action: KeyringAction): Result<TurnSecret> {
    const all = this.sql.exec<SecretRow>("SELECT * FROM secrets").toArray();
    const outcome = transition(all, action, id);
    if (!outcome.ok) return fail(outcome.code, outcome.message);
    const now = Date.now();
    for (const change of outcome.changes) {
      const stamp =
        change.state === "active" ? "activated_at" : change.state === "retiring" ? "retired_at" : "removed_at";
      this.sql.exec(`UPDATE secrets SET state = ?, ${stamp} = ? WHERE id = ?`, change.state, now, change.id);
      // A removed secret's value is erased; only its fingerprint stays for the record.
      if (change.state === "removed") this.sql.exec("UPDATE secrets SET value = NULL WHERE id = ?", change.id);
    }
    if (outcome.changes.length > 0) turnMaterialChanged();
    return ok(describe(this.row(id)!));
  }

  // ── Encryption at rest ─────────────────────────────

  /** Seals every stored secret value again under the first STATE_ENCRYPTION_KEY key; how many were rewritten. */
  reseal(): Promise<number> {
    return this.resealing.report();
  }

  private async resealStored(): Promise<number> {
    const sealer = await this.sealer();
    if (!sealer.enabled) return 0;
    const rows = this.sql
      .exec<{ id: string; value: string }>("SELECT id, value FROM secrets WHERE value IS NOT NULL")
      .toArray();
    return resealAll(
      sealer,
      rows.map((row) => ({
        stored: row.value,
        purpose: SEALED_PURPOSE.turnSecret,
        replace: (next) =>
          this.sql
            .exec("UPDATE secrets SET value = ? WHERE id = ? AND value = ? RETURNING id", next, row.id, row.value)
            .toArray().length > 0,
      })),
    );
  }

  // ── Health ─────────────────────────────────

  health(): NodeHealth[] {
    const rows = new Map(
      this.sql
        .exec<HealthRow>("SELECT * FROM node_health")
        .toArray()
        .map((r) => [r.node_id, r]),
    );
    return this.config.TURN_NODES.map((node) => {
      const row = rows.get(node.id);
      return {
        id: node.id,
        region: node.region,
        urls: nodeUrls(node),
        healthy: row ? row.healthy === 1 : true,
        probed: row !== undefined,
        consecutive_failures: row?.failures ?? 0,
        checked_at: isoOrNull(row?.checked_at ?? null),
        rtt_ms: row?.rtt_ms ?? null,
        error: row?.error ?? null,
      };
    });
  }

  override async alarm(): Promise<void> {
    const nodes = this.config.TURN_NODES;
    if (nodes.length === 0) return;
    const results = await Promise.all(nodes.map((node) => this.probe(node)));
    const now = Date.now();
    for (const [i, node] of nodes.entries()) this.record(node, results[i]!, now);
    await this.ctx.storage.setAlarm(now + this.config.TURN_PROBE_INTERVAL_SECONDS * 1000);
  }

  /** One STUN Binding request over TCP; resolves with the round trip or the reason it failed. */
  private async probe(node: TurnNode): Promise<{ rttMs: number } | { error: string }> {
    const started = Date.now();
    const request = bindingRequest();
    let socket: Socket | undefined;
    const timeout = new Promise<{ error: string }>((resolve) =>
      setTimeout(() => resolve({ error: "timeout" }), this.config.TURN_PROBE_TIMEOUT_MS),
    );
    const exchange = (async () => {
      socket = connect(probeAddress(node));
      // A refused connection also rejects `opened` and `closed`; the write and read below report it.
      socket.opened.catch(() => {});
      socket.closed.catch(() => {});
      const writer = socket.writable.getWriter();
      await writer.write(request);
      const reader = socket.readable.getReader();
      let received: Uint8Array = new Uint8Array(0);
      while (received.byteLength < STUN_HEADER_BYTES) {
        const { value, done } = await reader.read();
        if (done) return { error: "closed before answering" };
        received = concat(received, value);
      }
      return isBindingSuccess(request, received)
        ? { rttMs: Date.now() - started }
        : { error: "not a STUN binding success" };
    })().catch((error: unknown) => ({
      error: error instanceof Error ? error.message.slice(0, 200) : "connect failed",
    }));
    try {
      return await Promise.race([exchange, timeout]);
    } finally {
      socket?.close().catch(() => {});
    }
  }

  private record(node: TurnNode, result: { rttMs: number } | { error: string }, now: number): void {
    const previous = this.sql.exec<HealthRow>("SELECT * FROM node_health WHERE node_id = ?", node.id).toArray()[0];
    const passed = "rttMs" in result;
    const failures = passed ? 0 : (previous?.failures ?? 0) + 1;
    const successes = passed ? (previous?.successes ?? 0) + 1 : 0;
    const wasHealthy = previous ? previous.healthy === 1 : true;
    const healthy = wasHealthy ? failures < this.config.TURN_DOWN_AFTER : successes >= this.config.TURN_UP_AFTER;
    if (wasHealthy !== healthy) {
      console.log(`turn node ${node.id} is ${healthy ? "up" : "down"}`);
      turnMaterialChanged();
    }
    this.sql.exec(
      `INSERT INTO node_health (node_id, healthy, failures, successes, checked_at, rtt_ms, error)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(node_id) DO UPDATE SET healthy = excluded.healthy, failures = excluded.failures,
         successes = excluded.successes, checked_at = excluded.checked_at, rtt_ms = excluded.rtt_ms,
         error = excluded.error`,
      node.id,
      healthy ? 1 : 0,
      failures,
      successes,
      now,
      passed ? result.rttMs : null,
      passed ? null : result.error,
    );
  }

  private row(id: string): SecretRow | undefined {
    return this.sql.exec<SecretRow>("SELECT * FROM secrets WHERE id = ?", id).toArray()[0];
  }
}

function describe(row: SecretRow): TurnSecret {
  return {
    id: row.id,
    state: row.state,
    fingerprint: row.fingerprint,
    created_at: isoOrNull(row.created_at)!,
    activated_at: isoOrNull(row.activated_at),
    retired_at: isoOrNull(row.retired_at),
    removed_at: isoOrNull(row.removed_at),
  };
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const joined = new Uint8Array(a.byteLength + b.byteLength);
  joined.set(a);
  joined.set(b, a.byteLength);
  return joined;
}
