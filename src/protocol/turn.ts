import { z } from "zod";

/** An RTCIceServer with TURN REST credentials. */
export const IceServerSchema = z.object({
  urls: z.array(z.string()),
  username: z.string(),
  credential: z.string(),
});

export const IceGrantSchema = z
  .object({ ice_servers: z.array(IceServerSchema), expires_at: z.iso.datetime() })
  .meta({ id: "IceGrant" });
export type IceGrant = z.infer<typeof IceGrantSchema>;

/** What a participant gets in join_success and in every refresh: TURN credentials and a room session token. */
export const TurnCredentialsSchema = IceGrantSchema.extend({
  /** Bearer token for REST calls on behalf of this session (e.g. GET /v1/turn). */
  session_token: z.string(),
  session_token_expires_at: z.iso.datetime(),
});
export type TurnCredentials = z.infer<typeof TurnCredentialsSchema>;

export const TurnCommandSchema = z.discriminatedUnion("action", [
  /** Fresh TURN credentials and session token now (they also arrive by themselves before expiry). */
  z.object({ action: z.literal("refresh") }).strict(),
]);

export const TurnEventSchema = z.discriminatedUnion("message", [
  z.object({ message: z.literal("credentials"), ...TurnCredentialsSchema.shape }),
]);

export const SecretStateSchema = z.enum(["staged", "active", "retiring", "removed"]);

export const TurnSecretSchema = z
  .object({
    id: z.string(),
    state: SecretStateSchema,
    /** First characters of SHA-256(secret): matches database rows without revealing the secret. */
    fingerprint: z.string(),
    created_at: z.iso.datetime(),
    activated_at: z.iso.datetime().nullable(),
    retired_at: z.iso.datetime().nullable(),
    removed_at: z.iso.datetime().nullable(),
  })
  .meta({ id: "TurnSecret" });
export type TurnSecret = z.infer<typeof TurnSecretSchema>;

export const TurnSecretListSchema = z
  .object({
    credential_ttl_seconds: z.number().int(),
    /**
     * How long after activating a secret the previous one may be removed: the credential lifetime plus how long
     * rooms keep what they mint with (TURN_MATERIAL_CACHE_SECONDS).
     */
    removal_delay_seconds: z.number().int().optional(),
    secrets: z.array(TurnSecretSchema),
  })
  .meta({ id: "TurnSecretList" });
export type TurnSecretList = z.infer<typeof TurnSecretListSchema>;

export const AddTurnSecretRequestSchema = z
  .object({
    /** Omit to let Plenum generate one (returned once). */
    secret: z
      .string()
      .regex(/^[A-Za-z0-9_+/=-]{32,256}$/, "32–256 URL-safe or base64 characters")
      .optional(),
    activate: z.boolean().default(false),
  })
  .strict()
  .meta({ id: "AddTurnSecretRequest" });

export const AddedTurnSecretSchema = TurnSecretSchema.extend({ secret: z.string().optional() }).meta({
  id: "AddedTurnSecret",
});

export const SecretParamsSchema = z.object({ secret_id: z.string().regex(/^[A-Za-z0-9_-]{8,32}$/) });

export const NodeHealthSchema = z
  .object({
    id: z.string(),
    region: z.string(),
    urls: z.array(z.string()),
    healthy: z.boolean(),
    /** False until the first probe answered or failed; unprobed nodes count as healthy. */
    probed: z.boolean(),
    consecutive_failures: z.number().int(),
    checked_at: z.iso.datetime().nullable(),
    rtt_ms: z.number().nullable(),
    error: z.string().nullable(),
  })
  .meta({ id: "TurnNodeHealth" });
export type NodeHealth = z.infer<typeof NodeHealthSchema>;
