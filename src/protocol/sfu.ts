import { z } from "zod";

const HttpUrl = z.url({ protocol: /^https?$/ });

export const AddSfuNodeRequestSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/),
    region: z.string().min(1).max(64),
    /** Janus REST API base, e.g. http://10.0.3.5:8088/janus */
    api_url: HttpUrl,
    /** Janus admin API base, e.g. http://10.0.3.5:7088/admin */
    admin_url: HttpUrl,
    admin_secret: z.string().min(8).max(256),
    /** The node's Janus `api_secret`: sent with every API request, stored like the admin secret, never shown. */
    api_secret: z.string().min(16).max(256),
    /** Most handles (publishers and subscriptions) the node should carry. */
    capacity: z.number().int().positive().max(1_000_000),
  })
  .strict()
  .meta({ id: "AddSfuNodeRequest" });
export type AddSfuNodeRequest = z.infer<typeof AddSfuNodeRequestSchema>;

export const SfuNodeSchema = z
  .object({
    id: z.string(),
    region: z.string(),
    api_url: z.string(),
    admin_url: z.string(),
    capacity: z.number().int(),
    /**
     * 16 characters of the SHA-256 of the node's admin and API secrets, to compare shards by (`plenum status`); null
     * for a node registered before it was recorded.
     */
    secrets_fingerprint: z.string().nullable(),
    /** Whether requests carry an api_secret (false: registered before nodes needed one; register it again). */
    api_secret_set: z.boolean(),
    draining: z.boolean(),
    alive: z.boolean(),
    last_seen: z.iso.datetime().nullable(),
    sessions: z.number().int(),
    handles: z.number().int(),
    rooms: z.number().int(),
    error: z.string().nullable(),
  })
  .meta({ id: "SfuNode" });
export type SfuNode = z.infer<typeof SfuNodeSchema>;

export const SfuNodeParamsSchema = z.object({ node_id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/) });
