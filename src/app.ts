import { createRoute, OpenAPIHono, type RouteConfig } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { type ZodType, z } from "zod";
import { authenticate } from "./auth/authenticate";
import { verifySessionToken } from "./auth/session";
import {
  AddedTurnSecretSchema,
  AddSfuNodeRequestSchema,
  AddTurnSecretRequestSchema,
  AuthOptionsSchema,
  CreateInviteRequestSchema,
  CreateRoomRequestSchema,
  DevLoginRequestSchema,
  DevLoginResponseSchema,
  ErrorBodySchema,
  type ErrorCode,
  HealthSchema,
  httpStatusOf,
  IceGrantSchema,
  InviteSchema,
  NodeHealthSchema,
  parseSubprotocols,
  type Result,
  RoomParamsSchema,
  RoomSchema,
  SecretParamsSchema,
  SfuNodeParamsSchema,
  SfuNodeSchema,
  StartInvitedRequestSchema,
  StartRequestSchema,
  type StartResponse,
  StartResponseSchema,
  TurnSecretListSchema,
  TurnSecretSchema,
  UpdateRoomRequestSchema,
} from "./protocol";
import { type Config, readConfig } from "./shared/config";
import { errorResponse } from "./shared/http";
import { DEV_AUDIENCE, signingKey } from "./shared/keys";
import { hashPassword } from "./shared/password";
import type { Principal } from "./shared/principal";
import { clientAddress, clientRegion, REGION_HEADER } from "./shared/region";
import { randomToken } from "./shared/secrets";
import { WEB_ASSETS } from "./web-assets.generated";

type Variables = { config: Config; principal: Principal };
type AppEnv = { Bindings: Env; Variables: Variables };

const json = <T extends ZodType>(schema: T) => ({ content: { "application/json": { schema } } });
const jsonBody = <T extends ZodType>(schema: T) => ({ body: { ...json(schema), required: true } });
const errors = {
  400: { ...json(ErrorBodySchema), description: "Invalid request (`invalid_request`, `invalid_json`)" },
  401: { ...json(ErrorBodySchema), description: "Missing or invalid credentials" },
  403: { ...json(ErrorBodySchema), description: "Not allowed" },
  404: { ...json(ErrorBodySchema), description: "No such room (or another tenant's)" },
  409: { ...json(ErrorBodySchema), description: "Conflict" },
  413: { ...json(ErrorBodySchema), description: "Body too large" },
  429: { ...json(ErrorBodySchema), description: "Too many failed attempts from this address" },
  500: { ...json(ErrorBodySchema), description: "Internal error" },
  503: { ...json(ErrorBodySchema), description: "A needed service (e.g. SFU capacity) is unavailable" },
};
const bearer = [{ bearer: [] }];

/** Failed attempts that count against the client address. */
const GUESSING_ERRORS = new Set<ErrorCode>(["invalid_password", "invalid_invite", "invalid_ticket"]);

function route<R extends RouteConfig>(config: R) {
  return createRoute({ ...config, responses: { ...errors, ...config.responses } });
}

/** Answers with an RPC result: its value with the success status, or the contract's error body. */
function respond<T extends object, S extends 200 | 201>(c: Context<AppEnv>, result: Result<T>, status: S) {
  if (result.ok) return c.json(result.value, status);
  return c.json({ error: result.error }, httpStatusOf[result.error.code]);
}

function room(env: Env, id: string) {
  return env.ROOMS.get(env.ROOMS.idFromName(id));
}

function sfuPool(env: Env) {
  return env.SFU_POOL.get(env.SFU_POOL.idFromName("pool"));
}

function fleet(env: Env) {
  return env.TURN_FLEET.get(env.TURN_FLEET.idFromName("fleet"));
}

/**
 * Runs an attempt that can be guessed (password, invite code, ticket): refused while the client address has too
 * many recent failures, and counted against the address when it fails.
 */
async function throttled<R>(c: Context<AppEnv>, attempt: () => Promise<R>, failed: (outcome: R) => boolean) {
  const address = clientAddress(c.req.raw, c.var.config);
  const limiter = c.env.ATTEMPT_LIMITER.get(c.env.ATTEMPT_LIMITER.idFromName(address));
  const retryAfter = await limiter.retryAfter();
  if (retryAfter > 0) {
    const error = { code: "too_many_attempts" as const, message: "too many failed attempts; try again later" };
    return c.json({ error }, 429, { "retry-after": String(retryAfter) });
  }
  const outcome = await attempt();
  if (failed(outcome)) await limiter.recordFailure();
  return outcome;
}

const guessedWrong = <T>(result: Result<T>) => !result.ok && GUESSING_ERRORS.has(result.error.code);

export function createApp() {
  const app = new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) {
        const issue = result.error.issues[0];
        return errorResponse("invalid_request", `${issue?.path.join(".") || "body"}: ${issue?.message ?? "invalid"}`);
      }
    },
  });

  app.use("*", async (c, next) => {
    c.set("config", readConfig(c.env));
    await next();
  });
  app.use("/v1/*", (c, next) =>
    bodyLimit({
      maxSize: c.var.config.MAX_BODY_BYTES,
      onError: () => errorResponse("payload_too_large", `bodies are at most ${c.var.config.MAX_BODY_BYTES} bytes`),
    })(c, next),
  );

  const requireUser: MiddlewareHandler<AppEnv> = async (c, next) => {
    const principal = await authenticate(c.req.header("authorization"), c.env, c.var.config);
    if (!principal.ok)
      return errorResponse(principal.error.code, principal.error.message, { "www-authenticate": "Bearer" });
    c.set("principal", principal.value);
    await next();
  };

  /** Route fields of every endpoint that needs a bearer token. */
  const authenticated = { security: bearer, middleware: requireUser };

  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", {
    type: "http",
    scheme: "bearer",
    bearerFormat: "JWT",
  });

  // The web client (bundled at build time). Camera and microphone need a secure context: localhost or HTTPS.
  for (const [path, asset] of Object.entries(WEB_ASSETS)) {
    app.get(
      path,
      (c) =>
        new Response(asset.body, {
          headers: {
            "content-type": asset.type,
            "cache-control": "no-cache",
            "x-content-type-options": "nosniff",
            "referrer-policy": "no-referrer",
            "content-security-policy":
              `default-src 'none'; script-src 'self'; style-src 'self'; connect-src ${connectSources(c.var.config)}; ` +
              "media-src 'self' blob: mediastream:; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
            "permissions-policy": "camera=(self), microphone=(self), display-capture=(self)",
          },
        }),
    );
  }

  app.openapi(
    route({ method: "get", path: "/healthz", responses: { 200: { ...json(HealthSchema), description: "Alive" } } }),
    (c) => c.json({ status: "ok" as const }, 200),
  );

  app.openapi(
    route({
      method: "get",
      path: "/v1/auth/options",
      summary: "How the web client can sign people in",
      responses: { 200: { ...json(AuthOptionsSchema), description: "Development login and browser sign-in issuers" } },
    }),
    (c) => {
      const config = c.var.config;
      const oidc = config.OIDC_ISSUERS.flatMap((i) => (i.login ? [{ issuer: i.issuer, ...i.login }] : []));
      return c.json({ dev_login: config.DEV_LOGIN === "enabled", oidc }, 200);
    },
  );

  app.openapi(
    route({
      method: "post",
      path: "/v1/auth/dev-login",
      summary: "Development login (only when DEV_LOGIN=enabled)",
      request: jsonBody(DevLoginRequestSchema),
      responses: { 200: { ...json(DevLoginResponseSchema), description: "Access token of the development issuer" } },
    }),
    async (c) => {
      const config = c.var.config;
      if (config.DEV_LOGIN !== "enabled") {
        return c.json(
          { error: { code: "dev_login_disabled" as const, message: "development login is disabled" } },
          404,
        );
      }
      const { name, tenant } = c.req.valid("json");
      const token = await signingKey(c.env, "dev-issuer").sign({
        issuer: config.DEV_ISSUER_URL,
        audience: DEV_AUDIENCE,
        // The same name is the same user: a second login with it is a second device.
        subject: `dev:${name.toLowerCase()}`,
        claims: { name, tenant: tenant ?? "default" },
        ttlSeconds: config.DEV_TOKEN_TTL_SECONDS,
      });
      return c.json(
        { access_token: token, token_type: "Bearer" as const, expires_in: config.DEV_TOKEN_TTL_SECONDS },
        200,
      );
    },
  );

  app.openapi(
    route({
      method: "post",
      path: "/v1/rooms",
      summary: "Create a room; the caller owns it",
      ...authenticated,
      request: jsonBody(CreateRoomRequestSchema),
      responses: { 201: { ...json(RoomSchema), description: "Created" } },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const id = randomToken(16);
      const result = await room(c.env, id).create(c.var.principal, {
        id,
        name: body.name ?? "",
        passwordHash: body.password === undefined ? null : await hashPassword(body.password),
        waitingRoom: body.waiting_room,
      });
      return respond(c, result, 201);
    },
  );

  const params = { params: RoomParamsSchema };

  app.openapi(
    route({
      method: "get",
      path: "/v1/rooms/{id}",
      ...authenticated,
      request: params,
      responses: { 200: { ...json(RoomSchema), description: "The room" } },
    }),
    async (c) => respond(c, await room(c.env, c.req.valid("param").id).info(c.var.principal), 200),
  );

  app.openapi(
    route({
      method: "patch",
      path: "/v1/rooms/{id}",
      summary: "Change name, password or waiting-room setting (owner)",
      ...authenticated,
      request: { ...params, ...jsonBody(UpdateRoomRequestSchema) },
      responses: { 200: { ...json(RoomSchema), description: "The updated room" } },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const passwordHash =
        body.password === undefined ? undefined : body.password === null ? null : await hashPassword(body.password);
      const result = await room(c.env, c.req.valid("param").id).update(c.var.principal, {
        name: body.name,
        passwordHash,
        waitingRoom: body.waiting_room,
      });
      return respond(c, result, 200);
    },
  );

  app.openapi(
    route({
      method: "delete",
      path: "/v1/rooms/{id}",
      summary: "Delete the room and disconnect everyone (owner or operator)",
      ...authenticated,
      request: params,
      responses: { 204: { description: "Deleted" } },
    }),
    async (c) => {
      const result = await room(c.env, c.req.valid("param").id).remove(c.var.principal);
      return result.ok ? c.body(null, 204) : respond(c, result, 200);
    },
  );

  app.openapi(
    route({
      method: "post",
      path: "/v1/rooms/{id}/invites",
      summary: "Create a guest invite code (owner)",
      ...authenticated,
      request: { ...params, body: { ...json(CreateInviteRequestSchema), required: false } },
      responses: { 201: { ...json(InviteSchema), description: "Invite code (shown once)" } },
    }),
    async (c) => {
      const body = c.req.valid("json") ?? {};
      const result = await room(c.env, c.req.valid("param").id).createInvite(c.var.principal, body.expires_in_seconds);
      return respond(c, result, 201);
    },
  );

  app.openapi(
    route({
      method: "post",
      path: "/v1/rooms/{id}/start",
      summary: "Get a signalling ticket as a registered user",
      ...authenticated,
      request: { ...params, ...jsonBody(StartRequestSchema) },
      responses: { 200: { ...json(StartResponseSchema), description: "Single-use ticket and resumption token" } },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const id = c.req.valid("param").id;
      const start = async (): Promise<Result<StartResponse>> => room(c.env, id).start(c.var.principal, body);
      const result = await throttled(c, start, guessedWrong);
      return result instanceof Response ? result : respond(c, result, 200);
    },
  );

  app.openapi(
    route({
      method: "post",
      path: "/v1/rooms/{id}/start_invited",
      summary: "Get a signalling ticket as a guest with an invite code",
      request: { ...params, ...jsonBody(StartInvitedRequestSchema) },
      responses: { 200: { ...json(StartResponseSchema), description: "Single-use ticket and resumption token" } },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const id = c.req.valid("param").id;
      const start = async (): Promise<Result<StartResponse>> => room(c.env, id).startInvited(body);
      const result = await throttled(c, start, guessedWrong);
      return result instanceof Response ? result : respond(c, result, 200);
    },
  );

  app.openapi(
    route({
      method: "get",
      path: "/v1/rooms/{id}/signaling",
      summary: "WebSocket upgrade; ticket in `Sec-WebSocket-Protocol: plenum-signaling-v1, ticket#<ticket>`",
      request: params,
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
      );
    },
  );

  app.openapi(
    route({
      method: "get",
      path: "/v1/turn",
      summary: "TURN credentials for a live room session (bearer: the session token from join_success)",
      security: bearer,
      responses: { 200: { ...json(IceGrantSchema), description: "ICE servers, nearest healthy region first" } },
    }),
    async (c) => {
      const session = await verifySessionToken(c.req.header("authorization"), c.env);
      if (!session.ok) return c.json({ error: session.error }, 401, { "www-authenticate": "Bearer" });
      const { room: roomId, tenant, participantId, sessionId } = session.value;
      if (!(await room(c.env, roomId).sessionValid(tenant, participantId))) {
        return c.json({ error: { code: "unauthorized" as const, message: "session is over" } }, 401);
      }
      const [grant] = await fleet(c.env).grant([
        { opaqueId: sessionId, region: clientRegion(c.req.raw, c.var.config) },
      ]);
      return c.json(grant!, 200);
    },
  );

  const operatorOnly: MiddlewareHandler<AppEnv> = async (c, next) => {
    if (!c.var.principal.operator) return errorResponse("insufficient_permissions", "operators only");
    await next();
  };
  const operator = { security: bearer, middleware: [requireUser, operatorOnly] };
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

  app.doc31("/v1/openapi.json", {
    openapi: "3.1.0",
    info: { title: "Plenum signalling API", version: "1" },
  });

  app.notFound(() => errorResponse("not_found", "no such route"));
  app.onError((error) => {
    if (error instanceof HTTPException) {
      // Hono's validators throw 400 for bodies that are not JSON.
      const code: ErrorCode =
        error.status === 400 ? "invalid_json" : error.status === 413 ? "payload_too_large" : "invalid_request";
      return errorResponse(code, error.message);
    }
    console.error("unhandled error:", error instanceof Error ? error.message : "unknown");
    return errorResponse("internal_error", "internal error");
  });
  return app;
}

/** The page may call its own API and the token endpoints of issuers with browser sign-in. */
function connectSources(config: Config): string {
  const tokenOrigins = config.OIDC_ISSUERS.flatMap((i) => (i.login ? [new URL(i.login.token_endpoint).origin] : []));
  return ["'self'", ...new Set(tokenOrigins)].join(" ");
}
