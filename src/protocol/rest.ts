import { z } from "zod";
import {
  DisplayNameSchema,
  IdSchema,
  PublicKeySetSchema,
  RoomIdSchema,
  RoomNameSchema,
  WaitingRoomSchema,
} from "./common";

const PasswordSchema = z.string().min(1).max(128);
const SecretTokenSchema = z.string().regex(/^[A-Za-z0-9_-]{16,128}$/, "malformed token");
/** How many participants a room admits at once (owners and moderators may still join past it). */
const MaxParticipantsSchema = z.number().int().min(1).max(1_000_000);
const TenantSchema = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "lowercase letters, digits and dashes");

export const DevLoginRequestSchema = z
  .object({ name: DisplayNameSchema, tenant: TenantSchema.optional() })
  .strict()
  .meta({ id: "DevLoginRequest" });
export type DevLoginRequest = z.infer<typeof DevLoginRequestSchema>;
export const DevLoginResponseSchema = z
  .object({ access_token: z.string(), token_type: z.literal("Bearer"), expires_in: z.number().int() })
  .meta({ id: "DevLoginResponse" });
export type DevLoginResponse = z.infer<typeof DevLoginResponseSchema>;
/** GET /v1/auth/dev-issuer/jwks: the development issuer's public keys (ES256). */
export const DevIssuerKeySetSchema = PublicKeySetSchema.meta({ id: "DevIssuerKeySet" });
export type DevIssuerKeySet = z.infer<typeof DevIssuerKeySetSchema>;

export const CreateRoomRequestSchema = z
  .object({
    name: RoomNameSchema.optional(),
    password: PasswordSchema.optional(),
    waiting_room: WaitingRoomSchema.default("disabled"),
    /** Default and upper bound: the server's ROOM_MAX_PARTICIPANTS. */
    max_participants: MaxParticipantsSchema.optional(),
  })
  .strict()
  .meta({ id: "CreateRoomRequest" });
export type CreateRoomRequest = z.infer<typeof CreateRoomRequestSchema>;

export const UpdateRoomRequestSchema = z
  .object({
    name: RoomNameSchema.optional(),
    /** null removes the password. */
    password: PasswordSchema.nullable().optional(),
    waiting_room: WaitingRoomSchema.optional(),
    /** null: back to the server's ROOM_MAX_PARTICIPANTS. */
    max_participants: MaxParticipantsSchema.nullable().optional(),
  })
  .strict()
  .refine((b) => Object.keys(b).length > 0, "nothing to update")
  .meta({ id: "UpdateRoomRequest" });
export type UpdateRoomRequest = z.infer<typeof UpdateRoomRequestSchema>;

export const RoomSchema = z
  .object({
    id: RoomIdSchema,
    name: z.string(),
    has_password: z.boolean(),
    waiting_room: WaitingRoomSchema,
    /** The room's own limit (null: the server's), and the limit in force (the smaller of the two). */
    max_participants: z.number().int().nullable(),
    participant_limit: z.number().int(),
    created_at: z.iso.datetime(),
    /** Whether the caller owns the room. */
    is_owner: z.boolean(),
  })
  .meta({ id: "Room" });
export type Room = z.infer<typeof RoomSchema>;

/** GET /v1/rooms: the rooms the caller owns, newest first. */
export const RoomListSchema = z
  .object({
    rooms: z.array(RoomSchema),
    /** In a fleet: shards that did not answer in time, whose rooms are missing from the list. */
    unavailable_shards: z.array(z.string()).optional(),
  })
  .meta({ id: "RoomList" });
/** `scope=shard`: only the rooms of the shard that answers (how shards ask each other). */
export const RoomListQuerySchema = z.object({ scope: z.enum(["fleet", "shard"]).default("fleet") });
export type RoomList = z.infer<typeof RoomListSchema>;

export const RoomParamsSchema = z.object({ id: RoomIdSchema });

export const CreateInviteRequestSchema = z
  .object({
    /** Default: the server's INVITE_TTL_SECONDS (14 days). */
    expires_in_seconds: z
      .number()
      .int()
      .min(60)
      .max(90 * 24 * 3600)
      .optional(),
    /** How many guests may start with the code; default: any number until it expires. */
    max_uses: z.number().int().min(1).max(100_000).optional(),
  })
  .strict()
  .meta({ id: "CreateInviteRequest" });
export type CreateInviteRequest = z.infer<typeof CreateInviteRequestSchema>;
/** A new invite: the code is shown this once (the room keeps only its hash). */
export const InviteSchema = z
  .object({
    id: IdSchema,
    invite_code: z.string(),
    expires_at: z.iso.datetime(),
    max_uses: z.number().int().nullable(),
  })
  .meta({ id: "Invite" });
export type Invite = z.infer<typeof InviteSchema>;
/** An invite as the owner lists it: never its code. */
export const InviteInfoSchema = z
  .object({
    id: IdSchema,
    created_at: z.iso.datetime(),
    expires_at: z.iso.datetime(),
    max_uses: z.number().int().nullable(),
    /** Guests who started with it (reconnects with a resumption token do not count). */
    uses: z.number().int(),
  })
  .meta({ id: "InviteInfo" });
export const InviteListSchema = z.object({ invites: z.array(InviteInfoSchema) }).meta({ id: "InviteList" });
export type InviteList = z.infer<typeof InviteListSchema>;
export const InviteParamsSchema = z.object({ id: RoomIdSchema, invite_id: IdSchema });

export const StartRequestSchema = z
  .object({
    display_name: DisplayNameSchema.optional(),
    resumption: SecretTokenSchema.optional(),
    /** Needed when the room has a password and the caller is not its owner. */
    password: PasswordSchema.optional(),
  })
  .strict()
  .meta({ id: "StartRequest" });
export type StartRequest = z.infer<typeof StartRequestSchema>;

export const StartInvitedRequestSchema = z
  .object({
    invite_code: SecretTokenSchema,
    password: PasswordSchema.optional(),
    display_name: DisplayNameSchema,
    resumption: SecretTokenSchema.optional(),
  })
  .strict()
  .meta({ id: "StartInvitedRequest" });
export type StartInvitedRequest = z.infer<typeof StartInvitedRequestSchema>;

export const StartResponseSchema = z
  .object({
    ticket: z.string(),
    resumption: z.string(),
    participant_id: IdSchema,
    ticket_expires_at: z.iso.datetime(),
  })
  .meta({ id: "StartResponse" });
export type StartResponse = z.infer<typeof StartResponseSchema>;

/** `shard`: the shard's id in an on-prem fleet (PLENUM_SHARD), null outside one. */
export const HealthSchema = z.object({ status: z.literal("ok"), shard: z.string().nullable() });

/** GET /v1/operator/settings: a fingerprint per setting the fleet's shards must share (never a value). */
export const SharedSettingsSchema = z
  .object({ shard: z.string().nullable(), settings: z.record(z.string(), z.string()) })
  .meta({ id: "SharedSettings" });

/** How people can sign in (GET /v1/auth/options): development login, and issuers with browser sign-in. */
export const AuthOptionsSchema = z
  .object({
    dev_login: z.boolean(),
    oidc: z.array(
      z.object({
        issuer: z.string(),
        label: z.string(),
        client_id: z.string(),
        authorization_endpoint: z.string(),
        token_endpoint: z.string(),
        scope: z.string(),
      }),
    ),
  })
  .meta({ id: "AuthOptions" });
export type AuthOptions = z.infer<typeof AuthOptionsSchema>;

/** Operators only: what the room object holding a room is doing now (`instance_id` changes when it is rebuilt). */
export const RoomDiagnosticsSchema = z
  .object({
    room_id: RoomIdSchema,
    /** Random per construction of the room object: a new value means it was rebuilt (hibernation, restart). */
    instance_id: z.string(),
    instance_started_at: z.iso.datetime(),
    connections: z.number().int(),
    participants_connected: z.number().int(),
    /** Participants the room remembers: present ones, those within their resumption window, registered users. */
    participants_stored: z.number().int(),
  })
  .meta({ id: "RoomDiagnostics" });
export type RoomDiagnostics = z.infer<typeof RoomDiagnosticsSchema>;

/** Operators only: POST /v1/operator/state/reseal, stored secrets sealed again under the first state key. */
export const ResealStateResponseSchema = z
  .object({
    /** Singleton objects visited: the TURN fleet, the SFU pool and the three signing keys. */
    objects: z.number().int(),
    /** Rooms visited (every room the room index lists). */
    rooms: z.number().int(),
    /** Stored values rewritten (including those an object re-sealed on its own when it woke for this). */
    resealed: z.number().int(),
    /** Objects whose values could not all be re-sealed (e.g. sealed under a key no longer configured; see the log). */
    failed: z.number().int(),
  })
  .meta({ id: "ResealStateResponse" });
export type ResealStateResponse = z.infer<typeof ResealStateResponseSchema>;
