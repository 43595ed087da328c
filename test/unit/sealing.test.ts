import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ConfigSchema } from "../../src/shared/config";
import { keyId, loadSealer, resealAll, sealedKeyId, stateKeyProblem } from "../../src/shared/sealing";

const newKey = () => randomBytes(32).toString("base64url");
const A = newKey();
const B = newKey();
const idOf = (key: string) => keyId(new Uint8Array(Buffer.from(key, "base64url")));
const PURPOSE = "turn_fleet.secret";

describe("sealing of stored secrets", () => {
  it("seals with AES-GCM under the first key and opens again", async () => {
    const sealer = await loadSealer(A);
    const sealed = await sealer.seal("coturn-shared-secret-0123456789", PURPOSE);
    expect(sealed).toMatch(/^sealed:v1:[A-Za-z0-9_-]{8}:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]+$/);
    expect(sealed).not.toContain("coturn-shared-secret");
    expect(sealedKeyId(sealed)).toBe(await idOf(A));
    expect(await sealer.open(sealed, PURPOSE)).toBe("coturn-shared-secret-0123456789");
    // A fresh IV each time: the same plaintext never seals to the same text.
    expect(await sealer.seal("coturn-shared-secret-0123456789", PURPOSE)).not.toBe(sealed);
    // Unicode and JSON (private JWKs) survive.
    const jwk = JSON.stringify({ kty: "EC", d: "ä€😀" });
    expect(await sealer.open(await sealer.seal(jwk, "signing_key.private_jwk"), "signing_key.private_jwk")).toBe(jwk);
  });

  it("binds a sealed value to its purpose: it does not open in another field", async () => {
    const sealer = await loadSealer(A);
    const sealed = await sealer.seal("janus-api-secret-0123456789", "janus.api_secret");
    await expect(sealer.open(sealed, "janus.admin_secret")).rejects.toThrow(/does not authenticate/);
    // Nor when altered.
    // The last character but one (the last may carry only padding bits), changed to another letter.
    const altered = `${sealed.slice(0, -2)}${sealed.at(-2) === "A" ? "B" : "A"}${sealed.slice(-1)}`;
    await expect(sealer.open(altered, "janus.api_secret")).rejects.toThrow(/does not authenticate/);
  });

  it("refuses a value sealed under a key that is not configured, naming the key id but never the value", async () => {
    const sealed = await (await loadSealer(A)).seal("very-secret-value-0123456789", PURPOSE);
    const id = await idOf(A);
    for (const sealer of [await loadSealer(B), await loadSealer(undefined)]) {
      const failure = await sealer.open(sealed, PURPOSE).then(
        () => undefined,
        (error: Error) => error.message,
      );
      expect(failure).toContain(`key id ${id}`);
      expect(failure).toContain(PURPOSE);
      expect(failure).not.toContain("very-secret-value");
      expect(failure).not.toContain(sealed);
      expect(failure).not.toContain(A);
    }
    expect(await (await loadSealer(B)).open(sealed, PURPOSE).catch((e: Error) => e.message)).toContain(
      `it holds ${await idOf(B)}`,
    );
  });

  it("passes legacy plaintext through and stores in the clear without a key", async () => {
    for (const keys of [A, undefined]) {
      expect(await (await loadSealer(keys)).open("legacy-plaintext-secret", PURPOSE)).toBe("legacy-plaintext-secret");
    }
    const clear = await loadSealer(undefined);
    expect(clear.enabled).toBe(false);
    expect(await clear.seal("stays-as-it-is", PURPOSE)).toBe("stays-as-it-is");
    expect(clear.needsReseal("stays-as-it-is")).toBe(false);
    // Stored in the clear, such a value would read back as sealed.
    await expect(clear.seal("sealed:v1:looks-sealed", PURPOSE)).rejects.toThrow(/cannot be stored in the clear/);
  });

  it("tells which values need sealing again: plaintext, or sealed under a key other than the first", async () => {
    const sealer = await loadSealer(`${B},${A}`);
    expect(sealer.needsReseal("legacy-plaintext")).toBe(true);
    expect(sealer.needsReseal(await (await loadSealer(A)).seal("x", PURPOSE))).toBe(true);
    expect(sealer.needsReseal(await sealer.seal("x", PURPOSE))).toBe(false);
    expect(sealer.keyIds).toEqual([await idOf(B), await idOf(A)]);
  });

  it("rotates: sealed with A, opens with B,A and is re-sealed under B, then opens with B alone", async () => {
    const underA = await (await loadSealer(A)).seal("rotating-secret-0123456789", PURPOSE);
    const both = await loadSealer(` ${B} , ${A} `);
    expect(await both.open(underA, PURPOSE)).toBe("rotating-secret-0123456789");
    expect(both.needsReseal(underA)).toBe(true);

    const rows = new Map([
      ["a", underA],
      ["b", "legacy-plaintext-0123456789"],
    ]);
    const secrets = () =>
      [...rows].map(([id, stored]) => ({
        stored,
        purpose: PURPOSE,
        replace: (next: string) => {
          if (rows.get(id) !== stored) return false;
          rows.set(id, next);
          return true;
        },
      }));
    expect(await resealAll(both, secrets())).toBe(2);
    expect(await resealAll(both, secrets())).toBe(0);
    const onlyB = await loadSealer(B);
    expect(sealedKeyId(rows.get("a")!)).toBe(await idOf(B));
    expect(await onlyB.open(rows.get("a")!, PURPOSE)).toBe("rotating-secret-0123456789");
    expect(await onlyB.open(rows.get("b")!, PURPOSE)).toBe("legacy-plaintext-0123456789");
    expect(onlyB.needsReseal(rows.get("a")!)).toBe(false);
  });

  it("re-seals what it can and reports what it cannot open", async () => {
    const underA = await (await loadSealer(A)).seal("x", PURPOSE);
    const rows = ["plain-one", underA];
    const secrets = rows.map((stored, i) => ({
      stored,
      purpose: PURPOSE,
      replace: (next: string) => {
        rows[i] = next;
        return true;
      },
    }));
    // The expected text first: a rejection must find its handler attached, not one added after another await.
    const unopenable = `key id ${await idOf(A)}`;
    await expect(resealAll(await loadSealer(B), secrets)).rejects.toThrow(unopenable);
    expect(sealedKeyId(rows[0]!)).toBe(await idOf(B));
    expect(rows[1]).toBe(underA);
  });

  it("checks the setting's format without quoting it", () => {
    expect(stateKeyProblem(A)).toBeUndefined();
    expect(stateKeyProblem(`${A},${B}`)).toBeUndefined();
    expect(stateKeyProblem("")).toMatch(/names no key/);
    const short = randomBytes(16).toString("base64url");
    expect(stateKeyProblem(`${A},${short}`)).toMatch(/^key 2 of 2 is not 32 bytes/);
    expect(stateKeyProblem(`${A},${short}`)).not.toContain(short);
    const parse = (value: string) => ConfigSchema.safeParse({ STATE_ENCRYPTION_KEY: value });
    expect(parse(`${B}, ${A}`).success).toBe(true);
    for (const bad of ["", short, `${A},`, `${A};${B}`, `${A.slice(0, 42)}+`]) {
      const result = parse(bad);
      expect(result.success, bad).toBe(false);
      expect(JSON.stringify(result.error?.issues.map((i) => i.message))).not.toContain(bad || "\u0000");
    }
    expect(ConfigSchema.parse({}).STATE_ENCRYPTION_KEY).toBeUndefined();
  });
});
