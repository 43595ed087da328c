import { z } from "zod";

/** One trusted OIDC issuer. Tokens are verified against its JWKS (remote URL or inline keys). */
export const IssuerConfigSchema = z
  .object({
    issuer: z.string().min(1),
    audience: z.string().min(1),
    jwks_uri: z.url().optional(),
    jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())).min(1) }).optional(),
    algorithms: z.array(z.enum(["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"])).min(1).default(["RS256", "ES256"]),
    /** Claim whose value names the tenant inside this issuer; absent claim → tenant "default". */
    tenant_claim: z.string().min(1).default("tenant"),
  })
  .refine((c) => Boolean(c.jwks_uri) !== Boolean(c.jwks), { message: "exactly one of jwks_uri or jwks" });
export type IssuerConfig = z.infer<typeof IssuerConfigSchema>;

const seconds = (fallback: number) => z.coerce.number().int().positive().default(fallback);
const list = z
  .string()
  .default("")
  .transform((s) => s.split(",").map((x) => x.trim()).filter(Boolean));

/**
 * Every setting the worker and its objects read. Values arrive as strings (wrangler vars, workerd text bindings)
 * and are parsed once per isolate; a bad value fails loudly at the first request instead of misbehaving later.
 */
export const ConfigSchema = z.object({
  DEV_LOGIN: z.enum(["enabled", "disabled"]).default("disabled"),
  DEV_ISSUER_URL: z.string().default("urn:plenum:dev-issuer"),
  DEV_TOKEN_TTL_SECONDS: seconds(3600),
  OIDC_ISSUERS: z
    .string()
    .default("[]")
    .transform((s, ctx) => {
      try {
        return JSON.parse(s) as unknown;
      } catch {
        ctx.addIssue({ code: "custom", message: "OIDC_ISSUERS is not JSON" });
        return z.NEVER;
      }
    })
    .pipe(z.array(IssuerConfigSchema)),
  /** Origins allowed to open the signalling WebSocket; requests without Origin (non-browser clients) pass. */
  ALLOWED_ORIGINS: list,
  /** Header carrying the client address (cf-connecting-ip on Cloudflare, x-real-ip behind an on-prem proxy). */
  CLIENT_IP_HEADER: z.string().default("cf-connecting-ip"),
  OPERATOR_TOKEN: z.string().min(32).optional(),
  /** `claim=value`: a token whose claim equals (or, for arrays, contains) value belongs to an operator. */
  OPERATOR_CLAIM: z.string().regex(/^[^=]+=.+$/).default("plenum_role=operator"),
  TICKET_TTL_SECONDS: seconds(30),
  RESUMPTION_WINDOW_SECONDS: seconds(120),
  PRESENCE_BATCH_MS: z.coerce.number().int().min(0).default(50),
  MAX_FRAME_BYTES: seconds(65536),
  MAX_BODY_BYTES: seconds(16384),
  RATE_LIMIT_PER_SECOND: seconds(10),
  RATE_LIMIT_BURST: seconds(30),
  /** A connection that keeps sending after this many rate_limited answers is closed. */
  RATE_LIMIT_STRIKES: seconds(50),
  /** Failed attempts on invite codes, passwords and tickets per client address and window. */
  ATTEMPT_LIMIT: seconds(10),
  ATTEMPT_WINDOW_SECONDS: seconds(60),
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
  cached = { source: env, config: parsed.data };
  return parsed.data;
}
