import { DurableObject } from "cloudflare:workers";
import { SignJWT, calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JSONWebKeySet, type JWK } from "jose";
import { migrate } from "./room/migrations";

export const DEV_AUDIENCE = "plenum-dev";
const ALGORITHM = "ES256";

/**
 * The local development issuer: one signing key, generated on first use and kept in this object's storage, so
 * tokens stay valid across restarts. Only reachable when configuration enables development login.
 */
export class DevIssuerObject extends DurableObject<Env> {
  private key: Promise<{ kid: string; privateKey: CryptoKey; publicJwk: JWK }> | undefined;

  async jwks(): Promise<JSONWebKeySet> {
    return { keys: [(await this.signingKey()).publicJwk] };
  }

  async issue(input: { issuer: string; subject: string; name: string; tenant: string; ttlSeconds: number }): Promise<string> {
    const { kid, privateKey } = await this.signingKey();
    return new SignJWT({ name: input.name, tenant: input.tenant })
      .setProtectedHeader({ alg: ALGORITHM, kid, typ: "JWT" })
      .setIssuer(input.issuer)
      .setAudience(DEV_AUDIENCE)
      .setSubject(input.subject)
      .setIssuedAt()
      .setExpirationTime(`${input.ttlSeconds}s`)
      .sign(privateKey);
  }

  private signingKey() {
    this.key ??= this.loadOrCreateKey();
    return this.key;
  }

  private async loadOrCreateKey() {
    const sql = this.ctx.storage.sql;
    migrate(sql, "dev_issuer", ["CREATE TABLE signing_key (kid TEXT NOT NULL, private_jwk TEXT NOT NULL, public_jwk TEXT NOT NULL)"]);
    const stored = sql.exec<{ kid: string; private_jwk: string; public_jwk: string }>("SELECT * FROM signing_key").toArray()[0];
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
