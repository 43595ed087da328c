import { resolveRegion } from "../../turn/region";
import type { Config } from "./config";

/** Header on which the worker tells a room object the client's region (set by the worker, never by clients). */
export const REGION_HEADER = "x-plenum-client-region";

/** The client address, from the configured header (a proxy may append a chain; the first entry is the client). */
export function clientAddress(request: Request, config: Config): string {
  return request.headers.get(config.CLIENT_IP_HEADER)?.split(",")[0]?.trim() || "unknown";
}

export function clientRegion(request: Request, config: Config): string | undefined {
  const rules = config.REGION_RULES;
  return resolveRegion(rules, {
    cf: (request as Request & { cf?: { country?: unknown; regionCode?: unknown } }).cf,
    header: rules.header ? (request.headers.get(rules.header) ?? undefined) : undefined,
    address: clientAddress(request, config),
  });
}
