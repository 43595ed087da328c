import { z } from "zod";

export const RoleSchema = z.enum(["owner", "moderator", "user", "guest"]);
export type Role = z.infer<typeof RoleSchema>;

/**
 * An enum in a server event: clients accept values a newer server may add (they get the known values typed, and
 * must treat any other string as "unknown"), so the protocol can grow without clients dropping frames.
 */
export const openEnum = <E extends z.ZodEnum>(known: E) =>
  z.union([known, z.string().max(64)]) as unknown as z.ZodType<z.infer<E> | (string & {})>;

export const ParticipantKindSchema = z.enum(["user", "guest"]);
export type ParticipantKind = z.infer<typeof ParticipantKindSchema>;

export const WaitingRoomSchema = z.enum(["disabled", "guests", "everyone"]);
export type WaitingRoom = z.infer<typeof WaitingRoomSchema>;

/** Opaque identifiers we hand out: URL-safe, bounded. */
export const IdSchema = z.string().regex(/^[A-Za-z0-9_-]{8,64}$/, "malformed id");

/** A JWKS of ES256 public keys (P-256), as the deployment's signing objects publish them. */
export const PublicKeySetSchema = z.object({
  keys: z.array(
    z.object({ kty: z.literal("EC"), crv: z.literal("P-256"), x: z.string(), y: z.string(), kid: z.string() }).loose(),
  ),
});

/** A shard of an on-prem fleet: its id names it in its rooms' ids and in the fleet's configuration. */
export const ShardIdSchema = z
  .string()
  .regex(/^[a-z][a-z0-9]{0,15}$/, "a shard id (a lowercase letter, then up to 15 lowercase letters or digits)");

/**
 * A room's id: the shard that holds it, a dot, and a random part (a dot cannot occur in the random part, so a proxy
 * routes by the prefix). Rooms made without a shard id (on Cloudflare, or before shards) have no prefix.
 */
export const RoomIdSchema = z.string().regex(/^(?:[a-z][a-z0-9]{0,15}\.)?[A-Za-z0-9_-]{8,64}$/, "malformed room id");

/** The shard a room id names (undefined: none, so the fleet's first shard's). */
export const shardOfRoom = (roomId: string): string | undefined => {
  const dot = roomId.indexOf(".");
  return dot < 0 ? undefined : roomId.slice(0, dot);
};

/**
 * Names are shown to everyone: control and format characters (Cf) can reorder what others read (bidi overrides)
 * or hide text, so they are refused with lone surrogates and line separators; the zero-width (non-)joiners are
 * kept, as emoji sequences and several scripts need them.
 */
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/u;
const JOINERS = /[\u200c\u200d]/gu;

export const isVisibleText = (s: string) => !INVISIBLE.test(s.replace(JOINERS, ""));
const VISIBLE_ONLY = "control and format characters are not allowed";

export const DisplayNameSchema = z.string().trim().min(1).max(100).refine(isVisibleText, VISIBLE_ONLY);
export const RoomNameSchema = z.string().trim().max(200).refine(isVisibleText, VISIBLE_ONLY);

/**
 * Chat and other free text: control characters other than line feed and tab are refused, and lone surrogates
 * (they cannot be stored or sent as UTF-8: they would arrive as U+FFFD, another text than was sent).
 */
export const isFreeText = (s: string) => !/[^\P{Cc}\n\t]|\p{Cs}/u.test(s);

/** Error codes shared by REST bodies, RPC results and WebSocket error frames. */
export const ErrorCodeSchema = z.enum([
  "invalid_json",
  "invalid_frame",
  "invalid_request",
  "unknown_namespace",
  "unknown_action",
  "frame_too_large",
  "payload_too_large",
  "rate_limited",
  "too_many_attempts",
  "insufficient_permissions",
  "unauthorized",
  "forbidden_origin",
  "invalid_ticket",
  "invalid_password",
  "invalid_invite",
  "not_found",
  "conflict",
  "participant_limit_reached",
  "too_many_connections",
  "waiting_room_full",
  "quota_exceeded",
  "banned_from_room",
  "rejected",
  "room_locked",
  "dev_login_disabled",
  "sfu_unavailable",
  "shard_unavailable",
  "media_unavailable",
  "negotiation_pending",
  "stale_negotiation",
  "sfu_error",
  "chat_disabled",
  "slow_down",
  "ineligible",
  "vote_active",
  "vote_not_active",
  "already_voted",
  "invalid_option",
  "votes_retained",
  "poll_active",
  "poll_not_active",
  "timer_active",
  "timer_not_active",
  "automod_active",
  "automod_not_active",
  "breakout_active",
  "breakout_not_active",
  "internal_error",
]);
export type ErrorCode = z.infer<typeof ErrorCodeSchema>;

export const ErrorBodySchema = z.object({
  error: z.object({ code: ErrorCodeSchema, message: z.string() }),
});

/** Result of every room-object RPC: callers never see exceptions for expected failures. */
export type Result<T> = { ok: true; value: T } | { ok: false; error: { code: ErrorCode; message: string } };
export const ok = <T>(value: T): Result<T> => ({ ok: true, value });
export const fail = (code: ErrorCode, message: string): { ok: false; error: { code: ErrorCode; message: string } } => ({
  ok: false,
  error: { code, message },
});

/** HTTP status for each error code, so the worker maps RPC failures uniformly. */
export const httpStatusOf: Record<ErrorCode, 400 | 401 | 403 | 404 | 409 | 413 | 429 | 500 | 503> = {
  invalid_json: 400,
  invalid_frame: 400,
  invalid_request: 400,
  unknown_namespace: 400,
  unknown_action: 400,
  frame_too_large: 413,
  payload_too_large: 413,
  rate_limited: 429,
  too_many_attempts: 429,
  insufficient_permissions: 403,
  unauthorized: 401,
  forbidden_origin: 403,
  invalid_ticket: 401,
  invalid_password: 403,
  invalid_invite: 403,
  not_found: 404,
  conflict: 409,
  participant_limit_reached: 403,
  too_many_connections: 403,
  waiting_room_full: 403,
  quota_exceeded: 403,
  banned_from_room: 403,
  rejected: 403,
  room_locked: 403,
  dev_login_disabled: 404,
  sfu_unavailable: 503,
  shard_unavailable: 503,
  media_unavailable: 409,
  negotiation_pending: 409,
  stale_negotiation: 409,
  sfu_error: 503,
  chat_disabled: 403,
  slow_down: 429,
  ineligible: 403,
  vote_active: 409,
  vote_not_active: 409,
  already_voted: 409,
  invalid_option: 400,
  votes_retained: 409,
  poll_active: 409,
  poll_not_active: 409,
  timer_active: 409,
  timer_not_active: 409,
  automod_active: 409,
  automod_not_active: 409,
  breakout_active: 409,
  breakout_not_active: 409,
  internal_error: 500,
};

/** Close codes a client must not retry (4000–4999, DESIGN §2). */
export const CloseCode = {
  kicked: 4000,
  banned: 4001,
  meetingEnded: 4002,
  roomDeleted: 4003,
  rateLimited: 4029,
} as const;
