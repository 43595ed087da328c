/**
 * TURN REST credentials (draft-uberti-behave-turn-rest, as coturn's `use-auth-secret` checks them):
 * username `<unix expiry>:<opaque id>`, password base64(HMAC-SHA1(secret, username)). WebCrypto only, so the same
 * code runs in workerd and Node.
 */
export interface TurnCredential {
  username: string;
  credential: string;
  /** Unix seconds. */
  expiresAt: number;
}

const encoder = new TextEncoder();

/**
 * The imported key of the secret minted with last (one is active at a time): importing it per credential cost
 * about a sixth of a GET /v1/turn. Only an imported key is shared (a pending import belongs to the request that
 * started it, in workerd).
 */
let lastKey: { secret: string; key: CryptoKey } | undefined;

async function hmacKey(secret: string): Promise<CryptoKey> {
  if (lastKey?.secret === secret) return lastKey.key;
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-1" }, false, [
    "sign",
  ]);
  lastKey = { secret, key };
  return key;
}

export async function mintTurnCredential(secret: string, opaqueId: string, expiresAt: number): Promise<TurnCredential> {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(opaqueId)) throw new Error("opaque id must be URL-safe");
  const username = `${Math.floor(expiresAt)}:${opaqueId}`;
  const key = await hmacKey(secret);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(username)));
  let binary = "";
  for (const byte of mac) binary += String.fromCharCode(byte);
  return { username, credential: btoa(binary), expiresAt: Math.floor(expiresAt) };
}
