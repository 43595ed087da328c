import { base64url } from "jose";

/** Random bearer secrets (tickets, resumption tokens, invite codes, ids) and their stored hashes. */

const encoder = new TextEncoder();

/** A URL-safe random string carrying `bytes` bytes of entropy. */
export function randomToken(bytes = 32): string {
  return base64url.encode(crypto.getRandomValues(new Uint8Array(bytes)));
}

export async function sha256(text: string): Promise<string> {
  return base64url.encode(new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text))));
}

/** Compares two secrets in constant time (by their digests, so lengths do not leak either). */
export async function secretsEqual(a: string, b: string): Promise<boolean> {
  const [da, db] = await Promise.all(
    [a, b].map(async (s) => new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(s)))),
  );
  return crypto.subtle.timingSafeEqual(da!, db!);
}
