import { jwtVerify } from "jose";
import { fail, ok, type Result } from "../protocol";
import { publicKeys, SESSION_AUDIENCE, SESSION_ISSUER } from "../shared/keys";

export interface SessionClaims {
  tenant: string;
  room: string;
  participantId: string;
  /** The connection the token was issued to; the opaque id in TURN usernames. */
  sessionId: string;
}

/** Verifies a room session token (issued by a room at join): signature, issuer, audience, expiry and claims. */
export async function verifySessionToken(header: string | undefined, env: Env): Promise<Result<SessionClaims>> {
  const token = /^Bearer ([\x21-\x7e]{1,4096})$/.exec(header ?? "")?.[1];
  if (!token) return fail("unauthorized", "missing session token");
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
    return ok({ tenant, room, participantId: sub, sessionId: sid });
  } catch (error) {
    return fail("unauthorized", `session token rejected (${(error as { code?: string }).code ?? "ERR_JWT_INVALID"})`);
  }
}
