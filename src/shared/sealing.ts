import { base64url } from "jose";
import { errorText, logFailure } from "./log";

/**
 * Encryption at rest of the secrets Durable Objects store (TURN secrets, Janus secrets, signing keys), with the
 * keys of STATE_ENCRYPTION_KEY: comma-separated base64url 256-bit keys, the first seals, all open.
 *
 * A sealed value is `sealed:v1:<key id>:<iv>:<ciphertext>` — AES-256-GCM (WebCrypto), a random 96-bit IV, the
 * purpose (e.g. "turn_fleet.secret") as additional data, so a sealed value opens only in the field it was sealed
 * for. The key id is a short fingerprint of the key (8 characters of the base64url SHA-256 of the raw key). Values
 * without the `sealed:` prefix are legacy plaintext: they open as they are and are re-sealed by their object.
 */

const PREFIX = "sealed:";
const VERSION = "v1";
const IV_BYTES = 12;
const KEY_BYTES = 32;
const KEY_ID_LENGTH = 8;

/** The purposes (additional data) of the sealed fields. */
export const SEALED_PURPOSE = {
  /** `turn_fleet.secrets.value`. */
  turnSecret: "turn_fleet.secret",
  /** `sfu_pool.nodes.admin_secret`. */
  janusAdminSecret: "janus.admin_secret",
  /**
   * A Janus node's api_secret: `sfu_pool.nodes.api_secret` and the rooms' copies (`media_sfu`, `media_janus`),
   * which keep the sealed value the pool hands over in the pin.
   */
  janusApiSecret: "janus.api_secret",
  /** `signing_key.private_jwk`. */
  signingKey: "signing_key.private_jwk",
} as const;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** Bytes of base64url text, in a buffer of their own (as WebCrypto takes them). */
const bytes = (text: string) => new Uint8Array(base64url.decode(text));

/** Why a STATE_ENCRYPTION_KEY value is unusable (never quoting a key), or undefined when it is fine. */
export function stateKeyProblem(value: string): string | undefined {
  const keys = value.split(",").map((k) => k.trim());
  if (keys.every((k) => k === "")) return "names no key (leave it unset to store secrets in the clear)";
  for (const [i, key] of keys.entries()) {
    const which = keys.length > 1 ? `key ${i + 1} of ${keys.length}` : "the key";
    if (!/^[A-Za-z0-9_-]{43}=?$/.test(key)) {
      return (
        `${which} is not 32 bytes in base64url (43 characters of A-Z a-z 0-9 - _); generate one with ` +
        `node -e "console.log(require('crypto').randomBytes(32).toString('base64url'))"`
      );
    }
  }
  return undefined;
}

function rawKeys(value: string): Uint8Array<ArrayBuffer>[] {
  const problem = stateKeyProblem(value);
  if (problem) throw new Error(`STATE_ENCRYPTION_KEY: ${problem}`);
  return value.split(",").map((k) => {
    const raw = bytes(k.trim().replace(/=$/, ""));
    if (raw.byteLength !== KEY_BYTES) throw new Error("STATE_ENCRYPTION_KEY: a key is not 32 bytes");
    return raw;
  });
}

/** The key id of a raw key: a short fingerprint, safe to log and to store next to what it sealed. */
export async function keyId(raw: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new Uint8Array(raw)));
  return base64url.encode(digest).slice(0, KEY_ID_LENGTH);
}

/** The key id a sealed value names (undefined for legacy plaintext). */
export function sealedKeyId(stored: string): string | undefined {
  return stored.startsWith(PREFIX) ? stored.split(":")[2] : undefined;
}

export interface Sealer {
  /** Whether a key is configured (without one, `seal` stores the value as it is). */
  readonly enabled: boolean;
  /** Ids of the configured keys, the sealing key first. */
  readonly keyIds: readonly string[];
  /** The value to store: sealed under the first key (or the plaintext itself when no key is configured). */
  seal(plaintext: string, purpose: string): Promise<string>;
  /** The plaintext of a stored value (legacy plaintext as it is); throws naming the key id it cannot open. */
  open(stored: string, purpose: string): Promise<string>;
  /** Whether the stored value should be sealed again: plaintext, or sealed under a key other than the first. */
  needsReseal(stored: string): boolean;
}

interface Key {
  id: string;
  key: CryptoKey;
}

class StateSealer implements Sealer {
  readonly enabled: boolean;
  readonly keyIds: readonly string[];
  private readonly byId: Map<string, CryptoKey>;

  constructor(private readonly keys: readonly Key[]) {
    this.enabled = keys.length > 0;
    this.keyIds = keys.map((k) => k.id);
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
  }

  async seal(plaintext: string, purpose: string): Promise<string> {
    const sealing = this.keys[0];
    if (!sealing) {
      // Such a value would be read back as sealed; refuse it rather than store something that cannot be opened.
      if (plaintext.startsWith(PREFIX))
        throw new Error(`a value starting with "${PREFIX}" cannot be stored in the clear`);
      return plaintext;
    }
    const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
    const ciphertext = await crypto.subtle.encrypt(
      { name: "AES-GCM", iv, additionalData: encoder.encode(purpose) },
      sealing.key,
      encoder.encode(plaintext),
    );
    return [PREFIX + VERSION, sealing.id, base64url.encode(iv), base64url.encode(new Uint8Array(ciphertext))].join(":");
  }

  async open(stored: string, purpose: string): Promise<string> {
    if (!stored.startsWith(PREFIX)) return stored;
    const parts = stored.split(":");
    const [, version, id, iv, ciphertext] = parts;
    if (parts.length !== 5 || version !== VERSION || !id || !iv || !ciphertext) {
      throw new Error(`cannot open a stored ${purpose}: not a sealed value this version understands`);
    }
    const key = this.byId.get(id);
    if (!key) {
      const configured = this.keyIds.length > 0 ? `it holds ${this.keyIds.join(", ")}` : "it is not set";
      throw new Error(
        `cannot open a stored ${purpose}: it is sealed with key id ${id}, which STATE_ENCRYPTION_KEY does not ` +
          `hold (${configured})`,
      );
    }
    try {
      const plaintext = await crypto.subtle.decrypt(
        { name: "AES-GCM", iv: bytes(iv), additionalData: encoder.encode(purpose) },
        key,
        bytes(ciphertext),
      );
      return decoder.decode(plaintext);
    } catch {
      throw new Error(
        `cannot open a stored ${purpose} sealed with key id ${id}: it does not authenticate ` +
          "(altered, or sealed for another field)",
      );
    }
  }

  needsReseal(stored: string): boolean {
    return this.enabled && sealedKeyId(stored) !== this.keyIds[0];
  }
}

async function build(value: string | undefined): Promise<Sealer> {
  if (value === undefined) return new StateSealer([]);
  const keys = await Promise.all(
    rawKeys(value).map(async (raw) => ({
      id: await keyId(raw),
      key: await crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]),
    })),
  );
  return new StateSealer(keys);
}

/** Imported keys per isolate, by the setting's text (the environment does not change within an isolate). */
const sealers = new Map<string | undefined, Promise<Sealer>>();

/** The sealer for a STATE_ENCRYPTION_KEY value (undefined: none configured, values stay in the clear). */
export function loadSealer(value: string | undefined): Promise<Sealer> {
  let sealer = sealers.get(value);
  if (!sealer) {
    sealer = build(value);
    sealer.catch(() => sealers.delete(value));
    sealers.set(value, sealer);
  }
  return sealer;
}

/** One stored secret to re-seal, and how to write its new value back. */
export interface StoredSecret {
  stored: string;
  purpose: string;
  /** Stores `next` if the field still holds `stored` (compare and swap); whether it did. */
  replace(next: string): boolean;
}

/**
 * An object's re-sealing of the secrets it stores: on its own account when it loads (a failure is logged; the object
 * works on with what it can open) and when the operator asks, reporting what it re-sealed on its own since, too.
 */
export class Resealing {
  private unreported = 0;

  constructor(
    private readonly what: string,
    private readonly run: () => Promise<number>,
  ) {}

  async onLoad(): Promise<void> {
    try {
      this.unreported += await this.run();
    } catch (error) {
      logFailure(`${this.what} could not be re-sealed`, error);
    }
  }

  /** Seals every stored value again under the first key; how many were rewritten. */
  async report(): Promise<number> {
    const rewritten = (await this.run()) + this.unreported;
    this.unreported = 0;
    return rewritten;
  }
}

/**
 * Seals again, under the first key, every value that needs it; returns how many were rewritten. Values that
 * cannot be opened are left as they are and, after the others are done, reported in one thrown error.
 */
export async function resealAll(sealer: Sealer, secrets: readonly StoredSecret[]): Promise<number> {
  let rewritten = 0;
  const failures: unknown[] = [];
  for (const secret of secrets) {
    if (!sealer.needsReseal(secret.stored)) continue;
    try {
      const next = await sealer.seal(await sealer.open(secret.stored, secret.purpose), secret.purpose);
      if (secret.replace(next)) rewritten += 1;
    } catch (error) {
      failures.push(error);
    }
  }
  if (failures.length > 0) {
    const more = failures.length > 1 ? ` (and ${failures.length - 1} more)` : "";
    throw new Error(`${errorText(failures[0])}${more}`);
  }
  return rewritten;
}
