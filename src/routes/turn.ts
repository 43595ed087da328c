import { OpenAPIHono } from "@hono/zod-openapi";
import { verifySessionToken } from "../auth/session";
import { IceGrantSchema } from "../protocol";
import { clientRegion } from "../shared/region";
import { grantTurn } from "../shared/turn-grants";
import { type AppEnv, bearer, defaultHook, json, room, route } from "./common";

/** TURN credentials for participants of a live session. */
export function turnRoutes() {
  const app = new OpenAPIHono<AppEnv>({ defaultHook });

  app.openapi(
    route({
      method: "get",
      path: "/v1/turn",
      summary:
        "TURN credentials while the session token's connection is open or resuming (bearer: the session token " +
        "from join_success); at most TURN_REQUESTS_PER_MINUTE per session",
      security: bearer,
      responses: { 200: { ...json(IceGrantSchema), description: "ICE servers, nearest healthy region first" } },
    }),
    async (c) => {
      const session = await verifySessionToken(c.req.header("authorization"), c.env);
      if (!session.ok) return c.json({ error: session.error }, 401, { "www-authenticate": "Bearer" });
      const { room: roomId, tenant, participantId, sessionId } = session.value;
      const admitted = await room(c.env, roomId).turnRequest(tenant, participantId, sessionId);
      if (!admitted.ok) {
        const retry = admitted.retryAfter === undefined ? undefined : { "retry-after": String(admitted.retryAfter) };
        return c.json({ error: admitted.error }, admitted.error.code === "rate_limited" ? 429 : 401, retry);
      }
      const [grant] = await grantTurn(c.env, c.var.config, [
        { opaqueId: sessionId, region: clientRegion(c.req.raw, c.var.config) },
      ]);
      return c.json(grant!, 200);
    },
  );

  return app;
}
