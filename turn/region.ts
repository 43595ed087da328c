import ipaddr from "ipaddr.js";
import { z } from "zod";

export const RegionRulesSchema = z
  .object({
    /** Header an on-prem proxy sets to the client's region. */
    header: z.string().min(1).optional(),
    /** Client subnets → region, first match wins. */
    subnets: z.array(z.object({ cidr: z.string(), region: z.string().min(1) })).default([]),
    /** Cloudflare request metadata → region: keys "<country>-<regionCode>" (e.g. "DE-TH") or "<country>". */
    cloudflare: z.record(z.string(), z.string()).default({}),
    /** Each region's neighbours, nearest first. */
    neighbours: z.record(z.string(), z.array(z.string())).default({}),
    default: z.string().optional(),
  })
  .strict();
export type RegionRules = z.infer<typeof RegionRulesSchema>;

export interface RegionHints {
  cf?: { country?: unknown; regionCode?: unknown } | undefined;
  header?: string | undefined;
  address?: string | undefined;
}

/**
 * The client's region: from Cloudflare's request metadata when present, else a trusted proxy header, else the
 * client-subnet map, else the configured default.
 */
export function resolveRegion(rules: RegionRules, hints: RegionHints): string | undefined {
  const country = typeof hints.cf?.country === "string" ? hints.cf.country : undefined;
  if (country) {
    const code = typeof hints.cf?.regionCode === "string" ? hints.cf.regionCode : undefined;
    const mapped = (code && rules.cloudflare[`${country}-${code}`]) || rules.cloudflare[country];
    if (mapped) return mapped;
  }
  if (rules.header && hints.header) return hints.header.slice(0, 64);
  // Parsing an address costs more than the rest of a request's routing: only done when subnets are configured.
  if (rules.subnets.length > 0 && hints.address && ipaddr.isValid(hints.address)) {
    const address = ipaddr.process(hints.address);
    for (const { cidr, region } of rules.subnets) {
      if (!ipaddr.isValidCIDR(cidr)) continue;
      const range = ipaddr.parseCIDR(cidr);
      if (range[0].kind() === address.kind() && address.match(range)) return region;
    }
  }
  return rules.default;
}
