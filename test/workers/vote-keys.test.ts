import { env, runInDurableObject } from "cloudflare:test";
import { compactVerify, createLocalJWKSet, decodeProtectedHeader, type JSONWebKeySet } from "jose";
import { describe, expect, it } from "vitest";
import { signingKey } from "../../src/shared/keys";
import { signedPayload } from "../../src/votes/chain";
import { api, devToken, newRoom, setting } from "./helpers";

const operator = { authorization: `Bearer ${setting("OPERATOR_TOKEN")}` };
const SEALED = /^sealed:/;

describe("the deployment's vote key", () => {
  it("signs vote evidence, is published per room, rotates by the operator, keeps retired keys published", async () => {
    const owner = await devToken("Olga");
    const room = await newRoom(owner);
    const keysOf = async () => {
      const answer = await api("GET", `/v1/rooms/${room.id}/votes/keys`);
      expect(answer.status).toBe(200);
      return answer.body as JSONWebKeySet;
    };
    const first = await keysOf();
    expect(first.keys).toHaveLength(1);
    expect(first.keys[0]).toMatchObject({ kty: "EC", crv: "P-256", alg: "ES256", use: "sig" });
    expect(JSON.stringify(first)).not.toContain('"d"');
    expect((await api("GET", "/v1/rooms/not an id/votes/keys")).status).toBe(400);

    const key = signingKey(env, "vote");
    const payload = signedPayload.head(room.id, 3, "a".repeat(64));
    const before = await key.signCompact(payload);
    expect(decodeProtectedHeader(before)).toMatchObject({ alg: "ES256", kid: first.keys[0]!.kid });
    const verified = await compactVerify(before, createLocalJWKSet(first));
    expect(new TextDecoder().decode(verified.payload)).toBe(new TextDecoder().decode(payload));

    // Only operators rotate.
    expect((await api("POST", "/v1/operator/votes/rotate-key", { token: owner })).status).toBe(403);
    const rotated = await api("POST", "/v1/operator/votes/rotate-key", { headers: operator });
    expect(rotated.status).toBe(200);
    expect(rotated.body.kid).not.toBe(first.keys[0]!.kid);
    const after = await keysOf();
    expect(after.keys.map((k) => k.kid)).toEqual([rotated.body.kid, first.keys[0]!.kid]);
    // Evidence signed before still verifies; new evidence is signed with the new key.
    await compactVerify(before, createLocalJWKSet(after));
    expect(decodeProtectedHeader(await key.signCompact(payload)).kid).toBe(rotated.body.kid);
    // The retired key keeps its public half only; the key in use is stored sealed.
    const stored = await runInDurableObject(key, (_i, state) =>
      state.storage.sql
        .exec<{ kid: string; private_jwk: string; retired_at: number | null }>(
          "SELECT kid, private_jwk, retired_at FROM signing_key ORDER BY retired_at",
        )
        .toArray(),
    );
    expect(stored).toEqual([
      { kid: rotated.body.kid, private_jwk: expect.stringMatching(SEALED), retired_at: null },
      { kid: first.keys[0]!.kid, private_jwk: "", retired_at: expect.any(Number) },
    ]);
  });
});
