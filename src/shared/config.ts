import { z } from "zod";
import { TurnNodeSchema } from "../../turn/fleet";
import { RegionRulesSchema } from "../../turn/region";
import { ShardIdSchema } from "../protocol/common";
import { stateKeyProblem } from "./sealing";
import { ShardListSchema, shardProblem } from "./shards";

/** One trusted OIDC issuer. Tokens are verified against its JWKS (remote URL or inline keys). */
export const IssuerConfigSchema = z
  .object({
    issuer: z.string().min(1),
    audience: z.string().min(1),
    jwks_uri: z.url().optional(),
    jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())).min(1) }).optional(),
    algorithms: z
      .array(z.enum(["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]))
      .min(1)
      .default(["RS256", "ES256"]),
    /** Claim whose value names the tenant inside this issuer; absent claim → tenant "default". */
    tenant_claim: z.string().min(1).default("tenant"),
    /**
     * `claim=value`: this issuer's tokens whose claim equals (or, for arrays, contains) value belong to operators.
     * Absent (the default): this issuer grants no operator rights, whatever its tokens claim.
     */
    operator_claim: z
      .string()
      .regex(/^[^=]+=.+$/, "claim=value")
      .optional(),
    /** Browser sign-in for the web client (authorization code with PKCE, a public client); absent: API only. */
    login: z
      .object({
        label: z.string().min(1).max(100),
        client_id: z.string().min(1),
        authorization_endpoint: z.url({ protocol: /^https?$/ }),
        token_endpoint: z.url({ protocol: /^https?$/ }),
        scope: z.string().default("openid profile"),
      })
      .optional(),
  })
  .refine((c) => Boolean(c.jwks_uri) !== Boolean(c.jwks), { message: "exactly one of jwks_uri or jwks" });
export type IssuerConfig = z.infer<typeof IssuerConfigSchema>;

const seconds = (fallback: number) => z.coerce.number().int().positive().default(fallback);

/** A setting holding JSON, checked against `schema`. */
const json = <T extends z.ZodType>(schema: T, fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({ code: "custom", message: "not JSON" });
        return z.NEVER;
      }
    })
    .pipe(schema);
const list = z
  .string()
  .default("")
  .transform((s) =>
    s
      .split(",")
      .map((x) => x.trim())
      .filter(Boolean),
  );

/**
 * Every setting the worker and its objects read. Values arrive as strings (wrangler vars, workerd text bindings)
 * and are parsed once per isolate; a bad value fails loudly at the first request instead of misbehaving later.
 */
export const ConfigSchema = z.object({
  DEV_LOGIN: z.enum(["enabled", "disabled"]).default("disabled"),
  DEV_ISSUER_URL: z.string().default("urn:plenum:dev-issuer"),
  DEV_TOKEN_TTL_SECONDS: seconds(3600),
  OIDC_ISSUERS: json(z.array(IssuerConfigSchema), "[]"),
  /** Origins allowed to open the signalling WebSocket; requests without Origin (non-browser clients) pass. */
  ALLOWED_ORIGINS: list,
  /** Header carrying the client address (cf-connecting-ip on Cloudflare, x-real-ip behind an on-prem proxy). */
  CLIENT_IP_HEADER: z.string().default("cf-connecting-ip"),
  OPERATOR_TOKEN: z.string().min(32).optional(),
  /**
   * Encryption at rest of the secrets objects store (TURN secrets, Janus secrets, signing keys): comma-separated
   * base64url 256-bit keys, the first seals, all open (rotation: put the new key first, keep the old one behind it
   * until `plenum state reseal` has run). Absent: stored in the clear, as before.
   */
  STATE_ENCRYPTION_KEY: z
    .string()
    .superRefine((value, ctx) => {
      const problem = stateKeyProblem(value);
      if (problem) ctx.addIssue({ code: "custom", message: problem });
    })
    .optional(),
  /** Removed: any tenant's issuer could mint operators with it. Setting it stops the server with this message. */
  OPERATOR_CLAIM: z
    .undefined({
      error:
        "OPERATOR_CLAIM is no longer supported: name the one issuer whose tokens may carry operator rights with " +
        '"operator_claim": "plenum_role=operator" in its OIDC_ISSUERS entry',
    })
    .optional(),
  TICKET_TTL_SECONDS: seconds(30),
  /** Lifetime of a guest invite unless its creator asks for another. */
  INVITE_TTL_SECONDS: seconds(14 * 24 * 3600).pipe(z.number().max(90 * 24 * 3600)),
  RESUMPTION_WINDOW_SECONDS: seconds(120),
  PRESENCE_BATCH_MS: z.coerce.number().int().min(0).default(50),
  MAX_FRAME_BYTES: seconds(65536),
  MAX_BODY_BYTES: seconds(16384),
  /** Largest SDP a client may send (simulcast offers are a few KiB). */
  MAX_SDP_BYTES: seconds(16384),
  /** Rooms without an SFU run as a peer-to-peer mesh up to this many participants (waiting ones not counted). */
  MESH_MAX_PARTICIPANTS: seconds(4),
  /** Upper bound of every room's `max_participants` (owners and moderators may join past a room's own setting). */
  ROOM_MAX_PARTICIPANTS: seconds(1000),
  /** Signalling connections (devices) one participant may hold at once, tickets not yet used included. */
  MAX_CONNECTIONS_PER_PARTICIPANT: seconds(4),
  /** Participants one room's waiting room holds at most. */
  WAITING_ROOM_MAX: seconds(200),
  /** Rooms one user may own at once. */
  MAX_ROOMS_PER_USER: seconds(100),
  /** GET /v1/turn requests per room session (connection) and minute. */
  TURN_REQUESTS_PER_MINUTE: seconds(30),
  /** Bytes of chat history a joiner receives in join_success at most (besides the message count). */
  CHAT_JOIN_HISTORY_BYTES: seconds(65536),
  /** Chat messages a room keeps (all scopes together); older ones are deleted as new ones come. */
  CHAT_HISTORY_LIMIT: seconds(1000),
  /** Slow-down: a participant may send this many chat messages within CHAT_WINDOW_SECONDS. */
  CHAT_BURST: seconds(5),
  CHAT_WINDOW_SECONDS: seconds(5),
  /** Anonymous feedback: reactions are counted per window of this length (one per participant, kind and window). */
  FEEDBACK_WINDOW_SECONDS: seconds(10),
  /** Anonymous feedback: chairs get the counts at most this often while reactions come. */
  FEEDBACK_SUMMARY_MS: seconds(2000),
  /** Legal votes: signed heads go out at most this often while a vote's chain grows. */
  VOTE_HEAD_INTERVAL_MS: seconds(1000),
  /** Legal votes: problem reports one voter may file per vote (each is an entry of the protocol). */
  VOTE_ISSUES_PER_VOTER: seconds(10),
  RATE_LIMIT_PER_SECOND: seconds(10),
  RATE_LIMIT_BURST: seconds(30),
  /** A connection whose rate_limited answers outnumber its accepted frames by this much is closed. */
  RATE_LIMIT_STRIKES: seconds(50),
  /** Failed attempts on invite codes, passwords and tickets per client address and window. */
  ATTEMPT_LIMIT: seconds(10),
  ATTEMPT_WINDOW_SECONDS: seconds(60),
  /** Room password checks (PBKDF2, ~40 ms of the one thread each) per process and second; beyond: 429. */
  PASSWORD_CHECKS_PER_SECOND: seconds(20),
  /** Lifetime of the room session token (signalling → REST, e.g. GET /v1/turn); hard cap one hour. */
  SESSION_TOKEN_TTL_SECONDS: seconds(600).pipe(z.number().max(3600)),
  /** The coturn fleet; empty: no TURN (local default). */
  TURN_NODES: json(
    z
      .array(TurnNodeSchema)
      .refine((nodes) => new Set(nodes.map((n) => n.id)).size === nodes.length, "node ids must be unique"),
    "[]",
  ),
  TURN_REALM: z
    .string()
    .regex(/^[A-Za-z0-9.-]{1,127}$/)
    .default("plenum"),
  /** Lifetime of TURN credentials; hard cap one hour (a leaked credential is useful that long at most). */
  TURN_TTL_SECONDS: seconds(600).pipe(z.number().max(3600)),
  TURN_PROBE_INTERVAL_SECONDS: seconds(10),
  /**
   * How long rooms and the worker keep the active TURN secret and node health they mint with (no round trip to the
   * fleet object per credential); a rotation waits this long on top of the credential lifetime.
   */
  TURN_MATERIAL_CACHE_SECONDS: seconds(10).pipe(z.number().max(300)),
  TURN_PROBE_TIMEOUT_MS: seconds(2000),
  /** Consecutive failed probes before a node is taken out, and successful ones before it comes back. */
  TURN_DOWN_AFTER: seconds(3),
  TURN_UP_AFTER: seconds(2),
  /** SFU pool: how often each Janus node is polled, how long a poll may take, silence after which it is dead. */
  SFU_POLL_INTERVAL_MS: seconds(2000),
  SFU_POLL_TIMEOUT_MS: seconds(1500),
  SFU_DEAD_AFTER_MS: seconds(5000),
  /** Deadline of one request from a room to its Janus node. */
  SFU_REQUEST_TIMEOUT_MS: seconds(5000),
  /** Per-room cap on new SFU connections (publishers and subscriptions) per second, and the burst allowed. */
  SFU_JOIN_RATE: seconds(10),
  SFU_JOIN_BURST: seconds(20),
  /** With more camera publishers than this, subscribers get video only of this many most recent speakers. */
  SFU_LAST_N: seconds(6),
  /** Publisher bitrate cap the SFU asks browsers to respect (bits/s). */
  SFU_PUBLISHER_BITRATE: seconds(800_000),
  /** How a client's region is found and which regions are near each other. */
  REGION_RULES: json(RegionRulesSchema, "{}"),
  /** On-prem fleets: this shard's id, the prefix of the ids of the rooms it creates (`s2.…`). Absent: no prefix. */
  PLENUM_SHARD: ShardIdSchema.optional(),
  /**
   * On-prem fleets: every shard as `id=url`, comma-separated, the first first (the same list on every shard and for
   * the CLI); a shard asks the others for the caller's rooms of GET /v1/rooms. Empty: a single process.
   */
  PLENUM_SHARDS: ShardListSchema,
});
export type Config = z.infer<typeof ConfigSchema>;

let cached: { source: unknown; config: Config } | undefined;

/** Parses the environment once per isolate (the env object is stable for an isolate's lifetime). */
export function readConfig(env: Record<string, unknown>): Config {
  if (cached?.source === env) return cached.config;
  const strings = Object.fromEntries(Object.entries(env).filter(([, v]) => typeof v === "string"));
  const parsed = ConfigSchema.safeParse(strings);
  if (!parsed.success) {
    throw new Error(`invalid configuration: ${z.prettifyError(parsed.error)}`);
  }
  const fleet = shardProblem(parsed.data.PLENUM_SHARD, parsed.data.PLENUM_SHARDS);
  if (fleet) throw new Error(`invalid configuration: ${fleet}`);
  cached = { source: env, config: parsed.data };
  return parsed.data;
}
