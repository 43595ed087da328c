import { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import {
  CreateInviteRequestSchema,
  CreateRoomRequestSchema,
  DeleteRoomQuerySchema,
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
  RoomListQuerySchema,
  RoomListSchema,
  RoomSchema,
  StartInvitedRequestSchema,
  StartRequestSchema,
  type StartResponse,
  StartResponseSchema,
  UpdateRoomRequestSchema,
  type VoteKeySet,
  VoteKeySetSchema,
  VoteListSchema,
  VoteParamsSchema,
  type VoteProtocol,
  VoteProtocolSchema,
} from "../protocol";
import { signingKey } from "../shared/keys";
import { logFailure } from "../shared/log";
import { hashPassword, passwordCheckAllowed } from "../shared/password";
import { randomToken } from "../shared/secrets";
import type { Shard } from "../shared/shards";
import type { ReportEvidence } from "../votes/report";
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

/** Reports rendered lately (a report is a pure function of its protocol and links; rendering takes CPU). */
const reports = new Map<string, Promise<Uint8Array<ArrayBuffer>>>();
const REPORTS_KEPT = 16;

function reportOf(protocol: VoteProtocol, evidence: ReportEvidence): Promise<Uint8Array<ArrayBuffer>> {
  const key = `${protocol.vote.id}:${protocol.head}:${protocol.signature}:${evidence.keysUrl}`;
  let report = reports.get(key);
  if (!report) {
    // Loaded on first use: the PDF library, the font and their tables would otherwise sit in every process's memory.
    report = import("../votes/report")
      .then(({ voteReport }) => voteReport(protocol, evidence))
      .then((bytes) => new Uint8Array(bytes));
    report.catch(() => reports.delete(key));
    reports.set(key, report);
    for (const old of reports.keys()) if (reports.size > REPORTS_KEPT) reports.delete(old);
  }
  return report;
}

/** How long a shard waits for another's rooms before it lists that shard as unavailable. */
const SHARD_TIMEOUT_MS = 3000;

/** The caller's rooms on another shard (the caller's own token is the credential); undefined if it fails. */
async function roomsOnShard(shard: Shard, authorization: string): Promise<Room[] | undefined> {
  try {
    const response = await fetch(`${shard.url}/v1/rooms?scope=shard`, {
      headers: { authorization },
      signal: AbortSignal.timeout(SHARD_TIMEOUT_MS),
    });
    if (!response.ok) {
      logFailure(`GET /v1/rooms on shard ${shard.id}`, new Error(`status ${response.status}`), "warn");
      return undefined;
    }
    return RoomListSchema.parse(await response.json()).rooms;
  } catch (error) {
    logFailure(`GET /v1/rooms on shard ${shard.id}`, error, "warn");
    return undefined;
  }
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
      // The id names this shard, so a fleet's proxy sends everything about the room here.
      const shard = c.var.config.PLENUM_SHARD;
      const id = shard === undefined ? randomToken(16) : `${shard}.${randomToken(16)}`;
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
      summary:
        "The rooms the caller owns, newest first: in a fleet (PLENUM_SHARDS) from every shard, unless " +
        "`scope=shard` asks for this shard's only",
      ...authenticated,
      request: { query: RoomListQuerySchema },
      responses: { 200: { ...json(RoomListSchema), description: "The caller's rooms" } },
    }),
    async (c) => {
      const principal = c.var.principal;
      const { PLENUM_SHARD, PLENUM_SHARDS } = c.var.config;
      const list = async (userKey: string): Promise<Result<RoomList>> => {
        const ids = await roomIndex(c.env).owned(principal.tenant, userKey);
        const own = await Promise.all(ids.map((id) => room(c.env, id).info(principal)));
        const rooms = own.flatMap((r) => (r.ok ? [r.value] : []));
        const others = c.req.valid("query").scope === "shard" ? [] : PLENUM_SHARDS.filter((s) => s.id !== PLENUM_SHARD);
        if (others.length === 0) return ok({ rooms });
        const authorization = c.req.header("authorization")!;
        const gathered = await Promise.all(others.map((shard) => roomsOnShard(shard, authorization)));
        const unavailable = others.filter((_, i) => gathered[i] === undefined).map((s) => s.id);
        const all = [...rooms, ...gathered.flatMap((shardRooms) => shardRooms ?? [])];
        all.sort((a, b) => b.created_at.localeCompare(a.created_at));
        return ok({ rooms: all, ...(unavailable.length > 0 ? { unavailable_shards: unavailable } : {}) });
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
      summary:
        "Delete the room and disconnect everyone (owner or operator); a room with vote protocols only with " +
        "erase_votes=true (409 votes_retained otherwise)",
      ...authenticated,
      request: { ...roomParams, query: DeleteRoomQuerySchema },
      responses: { 204: { description: "Deleted" } },
    }),
    async (c) => {
      const eraseVotes = c.req.valid("query").erase_votes === "true";
      const result = await room(c.env, c.req.valid("param").id).remove(c.var.principal, eraseVotes);
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
      path: "/v1/rooms/{id}/votes",
      summary: "The room's legal votes, newest first (owner, moderators, operators; a voter sees their own votes)",
      ...authenticated,
      request: roomParams,
      responses: { 200: { ...json(VoteListSchema), description: "Votes; outcome null while one runs" } },
    }),
    async (c) => respond(c, await room(c.env, c.req.valid("param").id).votes(c.var.principal), 200),
  );

  app.openapi(
    route({
      method: "get",
      path: "/v1/rooms/{id}/votes/{vote_id}/protocol",
      summary: "An ended vote's signed protocol document (owner, moderators, operators, the vote's eligible voters)",
      ...authenticated,
      request: { params: VoteParamsSchema },
      responses: { 200: { ...json(VoteProtocolSchema), description: "The document (docs/votes.md)" } },
    }),
    async (c) => {
      const { id, vote_id } = c.req.valid("param");
      return respond(c, await room(c.env, id).voteProtocol(c.var.principal, vote_id), 200);
    },
  );

  app.openapi(
    route({
      method: "get",
      path: "/v1/rooms/{id}/votes/{vote_id}/report.pdf",
      summary: "An ended vote's report as PDF, for reading and printing (who may read the protocol)",
      ...authenticated,
      request: { params: VoteParamsSchema },
      responses: { 200: { content: { "application/pdf": { schema: {} } }, description: "The report" } },
    }),
    async (c) => {
      const { id, vote_id } = c.req.valid("param");
      const protocol = await room(c.env, id).voteProtocol(c.var.principal, vote_id);
      if (!protocol.ok) return respond(c, protocol, 200);
      const origin = new URL(c.req.url).origin;
      const keysUrl = `${origin}/v1/rooms/${id}/votes/keys`;
      const pdf = await reportOf(protocol.value, {
        kid: "",
        keysUrl,
        protocolUrl: `${origin}/v1/rooms/${id}/votes/${vote_id}/protocol`,
      });
      return c.body(pdf, 200, {
        "content-type": "application/pdf",
        "content-disposition": `attachment; filename="vote-${vote_id}-report.pdf"`,
      });
    },
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
