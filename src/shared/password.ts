import { base64url } from "jose";
import { TokenBucket } from "./token-bucket";

/** Room passwords are stored as PBKDF2-SHA256 (WebCrypto; 100,000 is the Workers runtime's iteration cap). */
const ITERATIONS = 100_000;
const encoder = new TextEncoder();

async function derive(password: string, salt: Uint8Array, iterations: number): Promise<string> {
  const key = await crypto.subtle.importKey("raw", encoder.encode(password), "PBKDF2", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt, iterations }, key, 256);
  return base64url.encode(new Uint8Array(bits));
}

export async function hashPassword(password: string): Promise<string> {
  const salt = crypto.getRandomValues(new Uint8Array(16));
  return `pbkdf2-sha256$${ITERATIONS}$${base64url.encode(salt)}$${await derive(password, salt, ITERATIONS)}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, iterations, salt, hash] = stored.split("$");
  if (scheme !== "pbkdf2-sha256" || !iterations || !salt || !hash) return false;
  const candidate = await derive(password, base64url.decode(salt), Number(iterations));
  const a = encoder.encode(candidate);
  const b = encoder.encode(hash);
  return a.byteLength === b.byteLength && crypto.subtle.timingSafeEqual(a, b);
}

/** Password checks this isolate (on-prem: this workerd process) has left; one per process, shared by all rooms. */
let checks: TokenBucket | undefined;

/**
 * Whether one more password check may run now. A check holds the process's only thread for ~40 ms, so a guessing
 * burst from many addresses would otherwise stall every room of the process; beyond `perSecond` callers wait.
 */
export function passwordCheckAllowed(perSecond: number, now = Date.now()): boolean {
  checks ??= new TokenBucket(perSecond, perSecond, now);
  return checks.take(now);
}
