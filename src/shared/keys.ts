import { createLocalJWKSet, type JWTVerifyGetKey } from "jose";

/** Purposes of the signing keys, one SigningKeyObject each. */
export type KeyPurpose = "dev-issuer" | "session" | "vote";

export const DEV_AUDIENCE = "plenum-dev";
/** Room session tokens: issued by a room at join, accepted by REST endpoints that serve a live session. */
export const SESSION_ISSUER = "urn:plenum:room";
export const SESSION_AUDIENCE = "plenum-session";

export function signingKey(env: Env, purpose: KeyPurpose) {
  return env.SIGNING_KEYS.get(env.SIGNING_KEYS.idFromName(purpose));
}

/**
 * Public key sets per purpose, kept for the isolate's life (these keys are generated once and never change; the
 * vote key rotates, and is read from its object each time).
 */
const keySets = new Map<Exclude<KeyPurpose, "vote">, Promise<JWTVerifyGetKey>>();

export function publicKeys(env: Env, purpose: Exclude<KeyPurpose, "vote">): Promise<JWTVerifyGetKey> {
  let keys = keySets.get(purpose);
  if (!keys) {
    keys = signingKey(env, purpose)
      .jwks()
      .then((jwks) => createLocalJWKSet(jwks));
    keys.catch(() => keySets.delete(purpose));
    keySets.set(purpose, keys);
  }
  return keys;
}
