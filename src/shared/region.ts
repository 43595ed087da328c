import ipaddr from "ipaddr.js";
import { resolveRegion } from "../../turn/region";
import { setBounded } from "./bounded";
import type { Config } from "./config";

/** Header on which the worker tells a room object the client's region (set by the worker, never by clients). */
export const REGION_HEADER = "x-plenum-client-region";

/**
 * The client address, from the configured header. In a list (`X-Forwarded-For`) only the last entry counts: it is
 * the one our own proxy appended; anything before it was sent by the client and proves nothing.
 */
export function clientAddress(request: Request, config: Config): string {
  return request.headers.get(config.CLIENT_IP_HEADER)?.split(",").pop()?.trim() || "unknown";
}

/**
 * Whom attempt limits count against: an IPv4 address, or an IPv6 address's /64 (one subscriber usually holds a
 * whole /64 and could otherwise switch addresses between guesses).
 */
export function attemptKey(address: string): string {
  let key = attemptKeys.get(address);
  if (key === undefined) {
    // Parsing costs more than the rest of a request's routing (ipaddr.js throws on each format that does not
    // match): the keys of the addresses seen last are kept.
    key = keyOf(address);
    setBounded(attemptKeys, address, key, 4096);
  }
  return key;
}

const attemptKeys = new Map<string, string>();

function keyOf(address: string): string {
  if (!ipaddr.isValid(address)) return address.slice(0, 100);
  const parsed = ipaddr.process(address);
  if (parsed.kind() === "ipv4") return parsed.toString();
  const prefix = (parsed as ipaddr.IPv6).parts.slice(0, 4);
  return `${new ipaddr.IPv6([...prefix, 0, 0, 0, 0]).toString()}/64`;
}

export function clientRegion(request: Request, config: Config): string | undefined {
  const rules = config.REGION_RULES;
  return resolveRegion(rules, {
    cf: (request as Request & { cf?: { country?: unknown; regionCode?: unknown } }).cf,
    header: rules.header ? (request.headers.get(rules.header) ?? undefined) : undefined,
    address: clientAddress(request, config),
  });
}
