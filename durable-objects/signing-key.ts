import { DurableObject } from "cloudflare:workers";
import {
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JSONWebKeySet,
  type JWK,
  SignJWT,
} from "jose";
import { migrate } from "./room/migrations";

const ALGORITHM = "ES256";

export interface SignRequest {
  issuer: string;
  audience: string;
  subject: string;
  ttlSeconds: number;
  claims: Record<string, string>;
}

/**
 * One signing key per instance (`SIGNING_KEYS.idFromName(purpose)`): the development issuer's, and the one for
 * room session tokens. Generated on first use and kept in this object's storage; the private key never leaves it.
 */
export class SigningKeyObject extends DurableObject<Env> {
  private key: Promise<{ kid: string; privateKey: CryptoKey; publicJwk: JWK }> | undefined;

  async jwks(): Promise<JSONWebKeySet> {
    return { keys: [(await this.signingKey()).publicJwk] };
  }

  async sign(request: SignRequest): Promise<string> {
    const { kid, privateKey } = await this.signingKey();
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

  private signingKey() {
    this.key ??= this.loadOrCreateKey();
    return this.key;
  }

  private async loadOrCreateKey() {
    const sql = this.ctx.storage.sql;
    migrate(sql, "signing_key", [
      "CREATE TABLE signing_key (kid TEXT NOT NULL, private_jwk TEXT NOT NULL, public_jwk TEXT NOT NULL)",
    ]);
    const stored = sql
      .exec<{ kid: string; private_jwk: string; public_jwk: string }>("SELECT * FROM signing_key")
      .toArray()[0];
    if (stored) {
      const privateKey = (await importJWK(JSON.parse(stored.private_jwk) as JWK, ALGORITHM)) as CryptoKey;
      return { kid: stored.kid, privateKey, publicJwk: JSON.parse(stored.public_jwk) as JWK };
    }
    const pair = await generateKeyPair(ALGORITHM, { extractable: true });
    const publicJwk = await exportJWK(pair.publicKey);
    const kid = await calculateJwkThumbprint(publicJwk);
    const described = { ...publicJwk, kid, alg: ALGORITHM, use: "sig" };
    sql.exec(
      "INSERT INTO signing_key (kid, private_jwk, public_jwk) VALUES (?, ?, ?)",
      kid,
      JSON.stringify(await exportJWK(pair.privateKey)),
      JSON.stringify(described),
    );
    return { kid, privateKey: pair.privateKey, publicJwk: described };
  }
}
