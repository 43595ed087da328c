import { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { type SessionClaims, verifySessionToken } from "../auth/session";
import { fail, IceGrantSchema, type Result } from "../protocol";
import { clientRegion } from "../shared/region";
import { grantTurn } from "../shared/turn-grants";
import { type AppEnv, bearer, defaultHook, json, room, roomParams, route } from "./common";

const responses = { 200: { ...json(IceGrantSchema), description: "ICE servers, nearest healthy region first" } };
const rules =
  "while the session token's connection is open or resuming (bearer: the session token from join_success); at " +
  "most TURN_REQUESTS_PER_MINUTE per session";

/**
 * TURN credentials for a session of `roomId` (undefined: the token's own room). The room judges every request, so a
 * removed or held session gets none at once.
 */
async function credentials(c: Context<AppEnv>, roomId: string | undefined) {
  const session = await verifySessionToken(c.req.header("authorization"), c.env);
  const claims: Result<SessionClaims> =
    session.ok && roomId !== undefined && roomId !== session.value.room
      ? fail("unauthorized", "the session token belongs to another room")
      : session;
  if (!claims.ok) return c.json({ error: claims.error }, 401, { "www-authenticate": "Bearer" });
  const { room: tokenRoom, tenant, participantId, sessionId } = claims.value;
  const admitted = await room(c.env, tokenRoom).turnRequest(tenant, participantId, sessionId);
  if (!admitted.ok) {
    const retry = admitted.retryAfter === undefined ? undefined : { "retry-after": String(admitted.retryAfter) };
    return c.json({ error: admitted.error }, admitted.error.code === "rate_limited" ? 429 : 401, retry);
  }
  const [grant] = await grantTurn(c.env, c.var.config, [
    { opaqueId: sessionId, region: clientRegion(c.req.raw, c.var.config) },
  ]);
  return c.json(grant!, 200);
}

/** TURN credentials for participants of a live session. */
export function turnRoutes() {
  const app = new OpenAPIHono<AppEnv>({ defaultHook });

  app.openapi(
    route({
      method: "get",
      path: "/v1/rooms/{id}/turn",
      summary:
        `TURN credentials for a session of this room ${rules}; under the room's path, so a fleet's proxy sends it to ` +
        "the room's shard",
      security: bearer,
      request: roomParams,
      responses,
    }),
    (c) => credentials(c, c.req.valid("param").id),
  );

  app.openapi(
    route({
      method: "get",
      path: "/v1/turn",
      summary:
        `TURN credentials ${rules}; in a fleet only the shard of the token's room answers it ` +
        "(use /v1/rooms/{id}/turn)",
      security: bearer,
      responses,
    }),
    (c) => credentials(c, undefined),
  );

  return app;
}
