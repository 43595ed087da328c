import { OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import {
  AddedTurnSecretSchema,
  AddSfuNodeRequestSchema,
  AddTurnSecretRequestSchema,
  NodeHealthSchema,
  RoomDiagnosticsSchema,
  SecretParamsSchema,
  SfuNodeParamsSchema,
  SfuNodeSchema,
  TurnSecretListSchema,
  TurnSecretSchema,
} from "../protocol";
import {
  type AppEnv,
  defaultHook,
  fleet,
  json,
  jsonBody,
  operator,
  respond,
  room,
  roomParams,
  route,
  sfuPool,
} from "./common";

/** Operator endpoints: the TURN keyring and nodes, the SFU nodes, and a room object's diagnostics. */
export function operatorRoutes() {
  const app = new OpenAPIHono<AppEnv>({ defaultHook });
  const secretParams = { params: SecretParamsSchema };

  app.openapi(
    route({
      method: "get",
      path: "/v1/operator/turn/secrets",
      summary: "TURN secret keyring (values are never shown)",
      ...operator,
      responses: { 200: { ...json(TurnSecretListSchema), description: "Secrets and the credential lifetime" } },
    }),
    async (c) => c.json(await fleet(c.env).secrets(), 200),
  );

  app.openapi(
    route({
      method: "post",
      path: "/v1/operator/turn/secrets",
      summary: "Add a TURN secret (staged, or active with `activate`); a generated secret is returned once",
      ...operator,
      request: jsonBody(AddTurnSecretRequestSchema),
      responses: { 201: { ...json(AddedTurnSecretSchema), description: "The new secret's record" } },
    }),
    async (c) => {
      const body = c.req.valid("json");
      return respond(c, await fleet(c.env).addSecret(body.secret, body.activate), 201);
    },
  );

  for (const action of ["activate", "retire"] as const) {
    app.openapi(
      route({
        method: "post",
        path: `/v1/operator/turn/secrets/{secret_id}/${action}`,
        summary:
          action === "activate"
            ? "Sign new credentials with this secret; the active one retires"
            : "Stop signing with this secret",
        ...operator,
        request: secretParams,
        responses: { 200: { ...json(TurnSecretSchema), description: "The secret's record" } },
      }),
      async (c) => respond(c, await fleet(c.env).change(c.req.valid("param").secret_id, action), 200),
    );
  }

  app.openapi(
    route({
      method: "delete",
      path: "/v1/operator/turn/secrets/{secret_id}",
      summary: "Remove a staged or retiring secret (its value is erased)",
      ...operator,
      request: secretParams,
      responses: { 200: { ...json(TurnSecretSchema), description: "The secret's record" } },
    }),
    async (c) => respond(c, await fleet(c.env).change(c.req.valid("param").secret_id, "remove"), 200),
  );

  app.openapi(
    route({
      method: "get",
      path: "/v1/operator/turn/nodes",
      summary: "TURN nodes and their health",
      ...operator,
      responses: {
        200: { ...json(z.object({ nodes: z.array(NodeHealthSchema) })), description: "Every configured node" },
      },
    }),
    async (c) => c.json({ nodes: await fleet(c.env).health() }, 200),
  );

  const nodeParams = { params: SfuNodeParamsSchema };

  app.openapi(
    route({
      method: "get",
      path: "/v1/operator/sfu/nodes",
      summary: "SFU (Janus) nodes with liveness and load",
      ...operator,
      responses: {
        200: { ...json(z.object({ nodes: z.array(SfuNodeSchema) })), description: "Every registered node" },
      },
    }),
    async (c) => c.json({ nodes: await sfuPool(c.env).list() }, 200),
  );

  app.openapi(
    route({
      method: "post",
      path: "/v1/operator/sfu/nodes",
      summary: "Register a Janus node; it takes rooms once it has answered a poll",
      ...operator,
      request: jsonBody(AddSfuNodeRequestSchema),
      responses: { 201: { ...json(SfuNodeSchema), description: "The node (its admin secret is never shown)" } },
    }),
    async (c) => respond(c, await sfuPool(c.env).add(c.req.valid("json")), 201),
  );

  for (const [action, draining] of [
    ["drain", true],
    ["undrain", false],
  ] as const) {
    app.openapi(
      route({
        method: "post",
        path: `/v1/operator/sfu/nodes/{node_id}/${action}`,
        summary: draining ? "Stop placing new rooms on the node (its rooms stay)" : "Place rooms on the node again",
        ...operator,
        request: nodeParams,
        responses: { 200: { ...json(SfuNodeSchema), description: "The node" } },
      }),
      async (c) => respond(c, await sfuPool(c.env).setDraining(c.req.valid("param").node_id, draining), 200),
    );
  }

  app.openapi(
    route({
      method: "delete",
      path: "/v1/operator/sfu/nodes/{node_id}",
      summary: "Remove the node; its rooms move to other nodes",
      ...operator,
      request: nodeParams,
      responses: { 204: { description: "Removed" } },
    }),
    async (c) => {
      const result = await sfuPool(c.env).remove(c.req.valid("param").node_id);
      return result.ok ? c.body(null, 204) : respond(c, result, 200);
    },
  );

  // Under the room's path, not /v1/operator, so a proxy sends it to the shard that holds the room.
  app.openapi(
    route({
      method: "get",
      path: "/v1/rooms/{id}/diagnostics",
      summary: "What the room object holding the room is doing now (operator)",
      ...operator,
      request: roomParams,
      responses: {
        200: { ...json(RoomDiagnosticsSchema), description: "The room object's instance and its connections" },
      },
    }),
    async (c) => respond(c, await room(c.env, c.req.valid("param").id).diagnostics(c.var.principal), 200),
  );

  return app;
}
