import { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import {
  CreateInviteRequestSchema,
  CreateRoomRequestSchema,
  fail,
  InviteListSchema,
  InviteParamsSchema,
  InviteSchema,
  ModerationLogQuerySchema,
  ModerationLogSchema,
  ok,
  type Result,
  type Room,
  type RoomList,
  RoomListSchema,
  RoomSchema,
  StartInvitedRequestSchema,
  StartRequestSchema,
  type StartResponse,
  StartResponseSchema,
  UpdateRoomRequestSchema,
  type VoteKeySet,
  VoteKeySetSchema,
} from "../protocol";
import { signingKey } from "../shared/keys";
import { hashPassword, passwordCheckAllowed } from "../shared/password";
import { randomToken } from "../shared/secrets";
import {
  type AppEnv,
  authenticated,
  defaultHook,
  guessedWrong,
  json,
  jsonBody,
  respond,
  room,
  roomIndex,
  roomParams,
  route,
  throttled,
} from "./common";

/**
 * Hashing a new room password holds the thread as long as checking one (PBKDF2), so it takes a check of the
 * process's PASSWORD_CHECKS_PER_SECOND too: a burst of room edits cannot stall every room either.
 */
async function cappedHash(c: Context<AppEnv>, password: string | undefined): Promise<Result<string | undefined>> {
  if (password === undefined) return ok(undefined);
  if (!passwordCheckAllowed(c.var.config.PASSWORD_CHECKS_PER_SECOND)) {
    return fail("too_many_attempts", "the server is hashing too many passwords right now; try again shortly");
  }
  return ok(await hashPassword(password));
}

/** Rooms: their settings, guest invites, and the signalling tickets to join them. */
export function roomRoutes() {
  const app = new OpenAPIHono<AppEnv>({ defaultHook });

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
      const hashed = await cappedHash(c, body.password);
      const result: Result<Room> = !hashed.ok
        ? hashed
        : await room(c.env, id).create(c.var.principal, {
            id,
            name: body.name ?? "",
            passwordHash: hashed.value ?? null,
            waitingRoom: body.waiting_room,
            maxParticipants: body.max_participants ?? null,
          });
      return respond(c, result, 201);
    },
  );

  app.openapi(
    route({
      method: "get",
      path: "/v1/rooms",
      summary: "The rooms the caller owns, newest first",
      ...authenticated,
      responses: { 200: { ...json(RoomListSchema), description: "The caller's rooms" } },
    }),
    async (c) => {
      const principal = c.var.principal;
      const list = async (userKey: string): Promise<Result<RoomList>> => {
        const ids = await roomIndex(c.env).owned(principal.tenant, userKey);
        const rooms = await Promise.all(ids.map((id) => room(c.env, id).info(principal)));
        return ok({ rooms: rooms.flatMap((r) => (r.ok ? [r.value] : [])) });
      };
      const result = principal.userKey
        ? await list(principal.userKey)
        : fail("insufficient_permissions", "the operator token owns no rooms");
      return respond(c, result, 200);
    },
  );

  app.openapi(
    route({
      method: "get",
      path: "/v1/rooms/{id}",
      ...authenticated,
      request: roomParams,
      responses: { 200: { ...json(RoomSchema), description: "The room" } },
    }),
    async (c) => respond(c, await room(c.env, c.req.valid("param").id).info(c.var.principal), 200),
  );

  app.openapi(
    route({
      method: "patch",
      path: "/v1/rooms/{id}",
      summary: "Change name, password, waiting-room setting or participant limit (owner)",
      ...authenticated,
      request: { ...roomParams, ...jsonBody(UpdateRoomRequestSchema) },
      responses: { 200: { ...json(RoomSchema), description: "The updated room" } },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const hashed = body.password === null ? ok(null) : await cappedHash(c, body.password);
      const result: Result<Room> = !hashed.ok
        ? hashed
        : await room(c.env, c.req.valid("param").id).update(c.var.principal, {
            name: body.name,
            passwordHash: hashed.value,
            waitingRoom: body.waiting_room,
            maxParticipants: body.max_participants,
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
      request: roomParams,
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
      summary:
        "Create a guest invite code (owner or operator); it expires (default 14 days) and may be limited in uses",
      ...authenticated,
      request: { ...roomParams, body: { ...json(CreateInviteRequestSchema), required: false } },
      responses: { 201: { ...json(InviteSchema), description: "Invite code (shown once)" } },
    }),
    async (c) => {
      const body = c.req.valid("json") ?? {};
      return respond(c, await room(c.env, c.req.valid("param").id).createInvite(c.var.principal, body), 201);
    },
  );

  app.openapi(
    route({
      method: "get",
      path: "/v1/rooms/{id}/invites",
      summary: "The room's invites with their expiry and uses (owner or operator; codes are never shown again)",
      ...authenticated,
      request: roomParams,
      responses: { 200: { ...json(InviteListSchema), description: "Every invite not revoked" } },
    }),
    async (c) => respond(c, await room(c.env, c.req.valid("param").id).listInvites(c.var.principal), 200),
  );

  app.openapi(
    route({
      method: "delete",
      path: "/v1/rooms/{id}/invites/{invite_id}",
      summary: "Revoke an invite (owner or operator): its code and its guests' resumptions stop working",
      ...authenticated,
      request: { params: InviteParamsSchema },
      responses: { 204: { description: "Revoked" } },
    }),
    async (c) => {
      const { id, invite_id } = c.req.valid("param");
      const result = await room(c.env, id).revokeInvite(c.var.principal, invite_id);
      return result.ok ? c.body(null, 204) : respond(c, result, 200);
    },
  );

  // Public, and under the room's path so a proxy sends it to the room's shard: auditors check signatures with it.
  app.openapi(
    route({
      method: "get",
      path: "/v1/rooms/{id}/votes/keys",
      summary: "The deployment's vote keys (JWKS, retired keys included) that sign vote heads, receipts, protocols",
      request: roomParams,
      responses: { 200: { ...json(VoteKeySetSchema), description: "The key in use first, then retired keys" } },
    }),
    async (c) => c.json((await signingKey(c.env, "vote").jwks()) as VoteKeySet, 200),
  );

  app.openapi(
    route({
      method: "get",
      path: "/v1/rooms/{id}/moderation-log",
      summary: "The room's moderation log, newest page first (owner, the room's moderators, operators)",
      ...authenticated,
      request: { ...roomParams, query: ModerationLogQuerySchema },
      responses: { 200: { ...json(ModerationLogSchema), description: "Entries oldest first; `more`: older exist" } },
    }),
    async (c) =>
      respond(c, await room(c.env, c.req.valid("param").id).moderationLog(c.var.principal, c.req.valid("query")), 200),
  );

  app.openapi(
    route({
      method: "post",
      path: "/v1/rooms/{id}/start",
      summary: "Get a signalling ticket as a registered user",
      ...authenticated,
      request: { ...roomParams, ...jsonBody(StartRequestSchema) },
      responses: { 200: { ...json(StartResponseSchema), description: "Single-use ticket and resumption token" } },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const id = c.req.valid("param").id;
      const start = async (): Promise<Result<StartResponse>> => room(c.env, id).start(c.var.principal, body);
      const result = await throttled(c, start, guessedWrong, body.password !== undefined);
      return result instanceof Response ? result : respond(c, result, 200);
    },
  );

  app.openapi(
    route({
      method: "post",
      path: "/v1/rooms/{id}/start_invited",
      summary: "Get a signalling ticket as a guest with an invite code",
      request: { ...roomParams, ...jsonBody(StartInvitedRequestSchema) },
      responses: { 200: { ...json(StartResponseSchema), description: "Single-use ticket and resumption token" } },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const id = c.req.valid("param").id;
      const start = async (): Promise<Result<StartResponse>> => room(c.env, id).startInvited(body);
      const result = await throttled(c, start, guessedWrong, true);
      return result instanceof Response ? result : respond(c, result, 200);
    },
  );

  return app;
}
