import { jwtVerify } from "jose";
import { fail, ok, type Result } from "../protocol";
import { setBounded } from "../shared/bounded";
import { publicKeys, SESSION_AUDIENCE, SESSION_ISSUER } from "../shared/keys";

export interface SessionClaims {
  tenant: string;
  room: string;
  participantId: string;
  /** The connection the token was issued to; the opaque id in TURN usernames. */
  sessionId: string;
}

/**
 * Session tokens this isolate verified, with their claims and expiry (ms): a client that asks for TURN credentials
 * again with the same token costs no second ECDSA verification. Keyed by the whole token, so only the exact
 * string that was verified matches; expiry is checked at every use; whether the session still counts is the room's
 * answer, asked every time. Bounded: when full, the oldest half goes.
 */
const verified = new Map<string, { claims: SessionClaims; expiresAt: number }>();

/** Verifies a room session token (issued by a room at join): signature, issuer, audience, expiry and claims. */
export async function verifySessionToken(header: string | undefined, env: Env): Promise<Result<SessionClaims>> {
  const token = /^Bearer ([\x21-\x7e]{1,4096})$/.exec(header ?? "")?.[1];
  if (!token) return fail("unauthorized", "missing session token");
  const known = verified.get(token);
  if (known && known.expiresAt > Date.now()) return ok(known.claims);
  if (known) verified.delete(token);
  try {
    const { payload } = await jwtVerify(token, await publicKeys(env, "session"), {
      issuer: SESSION_ISSUER,
      audience: SESSION_AUDIENCE,
      algorithms: ["ES256"],
      requiredClaims: ["sub", "exp", "tenant", "room", "sid"],
    });
    const { tenant, room, sid, sub } = payload;
    if (typeof tenant !== "string" || typeof room !== "string" || typeof sid !== "string" || !sub) {
      return fail("unauthorized", "session token lacks its claims");
    }
    const claims = { tenant, room, participantId: sub, sessionId: sid };
    setBounded(verified, token, { claims, expiresAt: payload.exp! * 1000 }, 4096);
    return ok(claims);
  } catch (error) {
    return fail("unauthorized", `session token rejected (${(error as { code?: string }).code ?? "ERR_JWT_INVALID"})`);
  }
}
