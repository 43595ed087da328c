import { OpenAPIHono } from "@hono/zod-openapi";
import canonicalize from "canonicalize";
import { z } from "zod";
import {
  AddedTurnSecretSchema,
  AddSfuNodeRequestSchema,
  AddTurnSecretRequestSchema,
  NodeHealthSchema,
  type ResealStateResponse,
  ResealStateResponseSchema,
  RoomDiagnosticsSchema,
  RotatedVoteKeySchema,
  SecretParamsSchema,
  SfuNodeParamsSchema,
  SfuNodeSchema,
  SharedSettingsSchema,
  TurnSecretListSchema,
  TurnSecretSchema,
} from "../protocol";
import { type Config, ConfigSchema } from "../shared/config";
import { type KeyPurpose, signingKey } from "../shared/keys";
import { logFailure } from "../shared/log";
import { roomIndexOf } from "../shared/objects";
import { sha256 } from "../shared/secrets";
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

/** Rooms asked at once while re-sealing, and room ids read from the index per page. */
const RESEAL_PARALLEL = 8;
const RESEAL_PAGE = 100;

/**
 * Seals every stored secret again under the first STATE_ENCRYPTION_KEY key: the singletons', then those of each
 * room the room index lists. An object that fails is logged and counted; the others go on.
 */
async function resealState(env: Env): Promise<ResealStateResponse> {
  const outcome: ResealStateResponse = { objects: 0, rooms: 0, resealed: 0, failed: 0 };
  const visit = async (name: string, reseal: () => Promise<number>) => {
    try {
      outcome.resealed += await reseal();
    } catch (error) {
      outcome.failed += 1;
      logFailure(`state reseal: ${name} could not be re-sealed`, error);
    }
  };
  const keys: KeyPurpose[] = ["dev-issuer", "session", "vote"];
  const singletons: [string, () => Promise<number>][] = [
    ["the TURN fleet", () => fleet(env).reseal()],
    ["the SFU pool", () => sfuPool(env).reseal()],
    ...keys.map((purpose): [string, () => Promise<number>] => [
      `the ${purpose} signing key`,
      () => signingKey(env, purpose).reseal(),
    ]),
  ];
  for (const [name, reseal] of singletons) {
    await visit(name, reseal);
    outcome.objects += 1;
  }
  let after: string | null = null;
  for (;;) {
    const ids: string[] = await roomIndexOf(env).page(after, RESEAL_PAGE);
    for (let i = 0; i < ids.length; i += RESEAL_PARALLEL) {
      await Promise.all(
        ids.slice(i, i + RESEAL_PARALLEL).map((id) => visit(`room ${id}`, () => room(env, id).reseal())),
      );
    }
    outcome.rooms += ids.length;
    if (ids.length < RESEAL_PAGE) return outcome;
    after = ids[ids.length - 1]!;
  }
}

/** What is each shard's own: its id and its secrets (a fleet shares one OPERATOR_TOKEN, which the CLI proves). */
const SHARD_OWN_SETTINGS: ReadonlySet<string> = new Set(["PLENUM_SHARD", "OPERATOR_TOKEN", "STATE_ENCRYPTION_KEY"]);

/**
 * A fingerprint (16 characters of the SHA-256 of its RFC 8785 JSON) of every setting the shards of a fleet must
 * share — TURN nodes, region rules, issuers, limits — so `plenum status` can name the one that differs.
 */
async function sharedSettingFingerprints(config: Config): Promise<Record<string, string>> {
  const names = Object.keys(ConfigSchema.shape).filter((name) => !SHARD_OWN_SETTINGS.has(name));
  const entries = await Promise.all(
    names.map(async (name) => {
      const value = config[name as keyof Config] ?? null;
      return [name, (await sha256(canonicalize(value) ?? "null")).slice(0, 16)] as const;
    }),
  );
  return Object.fromEntries(entries);
}

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

  app.openapi(
    route({
      method: "get",
      path: "/v1/operator/settings",
      summary: "A fingerprint of each setting the shards of a fleet must share (values are never shown)",
      ...operator,
      responses: { 200: { ...json(SharedSettingsSchema), description: "This shard's id and the fingerprints" } },
    }),
    async (c) =>
      c.json(
        { shard: c.var.config.PLENUM_SHARD ?? null, settings: await sharedSettingFingerprints(c.var.config) },
        200,
      ),
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

  app.openapi(
    route({
      method: "post",
      path: "/v1/operator/state/reseal",
      summary:
        "Seal every stored secret (TURN secrets, Janus secrets, signing keys) again under the first " +
        "STATE_ENCRYPTION_KEY key; run after putting a new key first, before removing the old one",
      ...operator,
      responses: { 200: { ...json(ResealStateResponseSchema), description: "Objects visited and values rewritten" } },
    }),
    async (c) => c.json(await resealState(c.env), 200),
  );

  app.openapi(
    route({
      method: "post",
      path: "/v1/operator/votes/rotate-key",
      summary: "Retire the vote key in use (it stays published for old evidence) and sign with a new one",
      ...operator,
      responses: { 200: { ...json(RotatedVoteKeySchema), description: "The new key's id" } },
    }),
    async (c) => c.json({ kid: await signingKey(c.env, "vote").rotate() }, 200),
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
