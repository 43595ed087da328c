import { z } from "zod";
import { ShardIdSchema } from "../protocol/common";
import type { Config } from "./config";

/** One shard of an on-prem fleet: its id and the base URL at which the other shards and the CLI reach it. */
export const ShardSchema = z.object({ id: ShardIdSchema, url: z.url({ protocol: /^https?$/ }) });
export type Shard = z.infer<typeof ShardSchema>;

/**
 * A fleet's shards as `id=url`, comma-separated, the first shard first (it holds the rooms whose ids name no shard):
 * `PLENUM_SHARDS` of the server and of the operator CLI, and `plenum nginx config --shards`.
 */
export const ShardListSchema = z
  .string()
  .default("")
  .transform((text, ctx) => {
    const entries = text
      .split(",")
      .map((entry) => entry.trim())
      .filter(Boolean);
    return entries.map((entry) => {
      const at = entry.indexOf("=");
      if (at < 0) ctx.addIssue({ code: "custom", message: `${entry}: expected id=url` });
      return { id: entry.slice(0, at), url: entry.slice(at + 1).replace(/\/+$/, "") };
    });
  })
  .pipe(
    z
      .array(ShardSchema)
      .refine((shards) => new Set(shards.map((s) => s.id)).size === shards.length, "shard ids must be unique"),
  );

/** What is wrong with this shard's place in its fleet, if anything: it must be one of the listed shards. */
export function shardProblem(shard: string | undefined, shards: readonly Shard[]): string | undefined {
  if (shards.length === 0 || (shard !== undefined && shards.some((s) => s.id === shard))) return undefined;
  const ids = shards.map((s) => s.id).join(", ");
  return shard === undefined
    ? `PLENUM_SHARDS lists a fleet (${ids}): set PLENUM_SHARD to this shard's id`
    : `PLENUM_SHARD ${shard} is not one of PLENUM_SHARDS (${ids})`;
}

/**
 * The shard whose development issuer signs the fleet's development logins, when it is another than this one: a token
 * from any shard must pass on every shard, so one key signs them all (the first shard's) and the others verify
 * against its public keys.
 */
export function devLoginShard(config: Pick<Config, "PLENUM_SHARD" | "PLENUM_SHARDS">): Shard | undefined {
  const first = config.PLENUM_SHARDS[0];
  return first && first.id !== config.PLENUM_SHARD ? first : undefined;
}
