import { DurableObject } from "cloudflare:workers";
import {
  CompactSign,
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JSONWebKeySet,
  type JWK,
  SignJWT,
} from "jose";
import { readConfig } from "../src/shared/config";
import { loadSealer, Resealing, resealAll, SEALED_PURPOSE } from "../src/shared/sealing";
import { migrate } from "./room/migrations";

const ALGORITHM = "ES256";

interface KeyRow extends Record<string, SqlStorageValue> {
  kid: string;
  /** Sealed with STATE_ENCRYPTION_KEY when one is configured (src/shared/sealing.ts). */
  private_jwk: string;
  public_jwk: string;
  /** When a rotation retired the key (null: the key in use); a retired key keeps only its public half. */
  retired_at: number | null;
}

export interface SignRequest {
  issuer: string;
  audience: string;
  subject: string;
  ttlSeconds: number;
  claims: Record<string, string>;
}

/**
 * One signing key per instance (`SIGNING_KEYS.idFromName(purpose)`): the development issuer's, the one for room
 * session tokens, and the deployment's vote key (heads, receipts and protocols of legal votes; rotated by the
 * operator, its retired keys stay in the JWKS so old evidence keeps verifying). Generated on first use and kept in
 * this object's storage; the private key never leaves it. The private key is stored sealed when
 * STATE_ENCRYPTION_KEY is set and opened only to sign, so the public key (and verification) does not depend on it.
 */
export class SigningKeyObject extends DurableObject<Env> {
  private key: Promise<{ kid: string; publicJwk: JWK }> | undefined;
  private privateKey: Promise<CryptoKey> | undefined;
  private readonly resealing = new Resealing("signing key: the stored private key", () => this.resealStored());

  /** The key in use first, then retired ones, newest first. */
  async jwks(): Promise<JSONWebKeySet> {
    const current = (await this.signingKey()).publicJwk;
    const retired = this.ctx.storage.sql
      .exec<KeyRow>("SELECT * FROM signing_key WHERE retired_at IS NOT NULL ORDER BY retired_at DESC")
      .toArray()
      .map((row) => JSON.parse(row.public_jwk) as JWK);
    return { keys: [current, ...retired] };
  }

  /** A compact JWS (ES256, `kid` in the header) over `payload`, with the key in use. */
  async signCompact(payload: Uint8Array): Promise<string> {
    const { kid } = await this.signingKey();
    return new CompactSign(payload).setProtectedHeader({ alg: ALGORITHM, kid }).sign(await this.privateSigningKey());
  }

  /** Several compact JWS in one call (a room acknowledging a burst of ballots). */
  async signAllCompact(payloads: Uint8Array[]): Promise<string[]> {
    return Promise.all(payloads.map((payload) => this.signCompact(payload)));
  }

  /**
   * Retires the key in use and makes a new one; the new key's id. The retired public key stays published; its
   * private key is deleted (nothing can be signed with it any more).
   */
  async rotate(): Promise<string> {
    await this.signingKey();
    const retire = "UPDATE signing_key SET retired_at = ?, private_jwk = '' WHERE retired_at IS NULL";
    this.ctx.storage.sql.exec(retire, Date.now());
    this.key = undefined;
    this.privateKey = undefined;
    return (await this.signingKey()).kid;
  }

  async sign(request: SignRequest): Promise<string> {
    const { kid } = await this.signingKey();
    const privateKey = await this.privateSigningKey();
    return new SignJWT(request.claims)
      .setProtectedHeader({ alg: ALGORITHM, kid, typ: "JWT" })
      .setIssuer(request.issuer)
      .setAudience(request.audience)
      .setSubject(request.subject)
      .setIssuedAt()
      .setExpirationTime(`${request.ttlSeconds}s`)
      .sign(privateKey);
  }

  /** Signs several tokens in one call (a room refreshing many participants at once). */
  async signAll(requests: SignRequest[]): Promise<string[]> {
    return Promise.all(requests.map((request) => this.sign(request)));
  }

  /**
   * Seals the stored private key again under the first STATE_ENCRYPTION_KEY key; how many values were rewritten
   * (0 or 1). Creates no key where none exists yet.
   */
  reseal(): Promise<number> {
    return this.resealing.report();
  }

  private signingKey() {
    if (!this.key) {
      this.key = this.loadOrCreateKey();
      this.key.catch(() => (this.key = undefined));
    }
    return this.key;
  }

  /** The private key, opened from storage once per instance (again after a failure, e.g. an unknown key id). */
  private privateSigningKey() {
    if (!this.privateKey) {
      this.privateKey = (async () => {
        const stored = this.stored();
        if (!stored) throw new Error("signing key is missing");
        const jwk = await (await this.sealer()).open(stored.private_jwk, SEALED_PURPOSE.signingKey);
        return (await importJWK(JSON.parse(jwk) as JWK, ALGORITHM)) as CryptoKey;
      })();
      this.privateKey.catch(() => (this.privateKey = undefined));
    }
    return this.privateKey;
  }

  private sealer() {
    return loadSealer(readConfig(this.env).STATE_ENCRYPTION_KEY);
  }

  private stored(): KeyRow | undefined {
    const sql = this.ctx.storage.sql;
    migrate(sql, "signing_key", [
      "CREATE TABLE signing_key (kid TEXT NOT NULL, private_jwk TEXT NOT NULL, public_jwk TEXT NOT NULL)",
      "ALTER TABLE signing_key ADD COLUMN retired_at INTEGER",
    ]);
    return sql.exec<KeyRow>("SELECT * FROM signing_key WHERE retired_at IS NULL").toArray()[0];
  }

  private async resealStored(): Promise<number> {
    const sealer = await this.sealer();
    const stored = this.stored();
    if (!sealer.enabled || !stored) return 0;
    return resealAll(sealer, [
      {
        stored: stored.private_jwk,
        purpose: SEALED_PURPOSE.signingKey,
        replace: (next) =>
          this.ctx.storage.sql
            .exec(
              "UPDATE signing_key SET private_jwk = ? WHERE kid = ? AND private_jwk = ? RETURNING kid",
              next,
              stored.kid,
              stored.private_jwk,
            )
            .toArray().length > 0,
      },
    ]);
  }

  private async loadOrCreateKey() {
    const stored = this.stored();
    if (stored) {
      // First use after a start: legacy plaintext (or a key sealed under an older key) is sealed again.
      await this.resealing.onLoad();
      return { kid: stored.kid, publicJwk: JSON.parse(stored.public_jwk) as JWK };
    }
    const pair = await generateKeyPair(ALGORITHM, { extractable: true });
    const publicJwk = await exportJWK(pair.publicKey);
    const kid = await calculateJwkThumbprint(publicJwk);
    const described = { ...publicJwk, kid, alg: ALGORITHM, use: "sig" };
    const sealed = await (await this.sealer()).seal(
      JSON.stringify(await exportJWK(pair.privateKey)),
      SEALED_PURPOSE.signingKey,
    );
    this.ctx.storage.sql.exec(
      "INSERT INTO signing_key (kid, private_jwk, public_jwk) VALUES (?, ?, ?)",
      kid,
      sealed,
      JSON.stringify(described),
    );
    this.privateKey = Promise.resolve(pair.privateKey);
    return { kid, publicJwk: described };
  }
}
