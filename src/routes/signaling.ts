import { OpenAPIHono } from "@hono/zod-openapi";
import { parseSubprotocols } from "../protocol";
import { errorResponse } from "../shared/http";
import { clientRegion, REGION_HEADER } from "../shared/region";
import { type AppEnv, defaultHook, room, roomParams, route, throttled } from "./common";

/** The WebSocket upgrade, checked here and handed to the room object that holds the room. */
export function signalingRoutes() {
  const app = new OpenAPIHono<AppEnv>({ defaultHook });

  app.openapi(
    route({
      method: "get",
      path: "/v1/rooms/{id}/signaling",
      summary: "WebSocket upgrade; ticket in `Sec-WebSocket-Protocol: plenum-signaling-v1, ticket#<ticket>`",
      request: roomParams,
      responses: { 101: { description: "Switching protocols to plenum-signaling-v1" } },
    }),
    async (c) => {
      const config = c.var.config;
      if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
        return errorResponse("invalid_request", "expected a WebSocket upgrade", { upgrade: "websocket" });
      }
      const origin = c.req.header("origin");
      // The served web client's own origin is always allowed; other pages only when configured.
      if (origin !== undefined && origin !== new URL(c.req.url).origin && !config.ALLOWED_ORIGINS.includes(origin)) {
        return errorResponse("forbidden_origin", "origin not allowed");
      }
      const offered = parseSubprotocols(c.req.header("sec-websocket-protocol") ?? null);
      if (!offered.versionOffered) return errorResponse("invalid_request", "subprotocol plenum-signaling-v1 required");
      if (!offered.ticket) return errorResponse("invalid_ticket", "ticket missing from Sec-WebSocket-Protocol");
      const id = c.req.valid("param").id;
      // The room learns the client's region from us only; a client-sent header of that name is replaced.
      const headers = new Headers(c.req.raw.headers);
      headers.delete(REGION_HEADER);
      const region = clientRegion(c.req.raw, config);
      if (region) headers.set(REGION_HEADER, region);
      const upgrade = new Request(c.req.raw, { headers });
      return throttled(
        c,
        () => room(c.env, id).fetch(upgrade),
        (response) => response.status === 401,
        false,
      );
    },
  );

  return app;
}
