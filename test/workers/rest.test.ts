import { base64url, generateKeyPair, type JWK, SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { timeTravel } from "./harness";
import { api, devToken, newRoom, oidcToken, setting, start } from "./helpers";

describe("health and documentation", () => {
  it("answers /healthz", async () => {
    expect(await api("GET", "/healthz")).toMatchObject({ status: 200, body: { status: "ok" } });
  });

  it("serves an OpenAPI document generated from the schemas", async () => {
    const { status, body } = await api("GET", "/v1/openapi.json");
    expect(status).toBe(200);
    expect(body.openapi).toBe("3.1.0");
    expect(Object.keys(body.paths)).toEqual(
      expect.arrayContaining([
        "/v1/rooms",
        "/v1/rooms/{id}",
        "/v1/rooms/{id}/start",
        "/v1/rooms/{id}/start_invited",
        "/v1/rooms/{id}/signaling",
        "/v1/auth/dev-login",
      ]),
    );
    expect(body.components.schemas.CreateRoomRequest.properties.waiting_room.enum).toEqual([
      "disabled",
      "guests",
      "everyone",
    ]);
  });

  it("answers unknown routes with the error body", async () => {
    expect(await api("GET", "/v1/nope")).toMatchObject({ status: 404, body: { error: { code: "not_found" } } });
  });
});

describe("rooms", () => {
  it("creates, reads, updates and deletes a room as its owner", async () => {
    const owner = await devToken("Olga");
    const room = await newRoom(owner, { name: "Kreistag", password: "geheim", waiting_room: "guests" });
    expect(room).toMatchObject({ name: "Kreistag", has_password: true, waiting_room: "guests", is_owner: true });
    expect(JSON.stringify(room)).not.toContain("geheim");

    expect(await api("GET", `/v1/rooms/${room.id}`, { token: owner })).toMatchObject({
      status: 200,
      body: { id: room.id },
    });
    const patched = await api("PATCH", `/v1/rooms/${room.id}`, {
      token: owner,
      body: { name: "Stadtrat", password: null },
    });
    expect(patched).toMatchObject({
      status: 200,
      body: { name: "Stadtrat", has_password: false, waiting_room: "guests" },
    });

    expect((await api("DELETE", `/v1/rooms/${room.id}`, { token: owner })).status).toBe(204);
    expect(await api("GET", `/v1/rooms/${room.id}`, { token: owner })).toMatchObject({
      status: 404,
      body: { error: { code: "not_found" } },
    });
  });

  it("lets other users of the tenant read but not change or delete a room", async () => {
    const owner = await devToken("Olga");
    const other = await devToken("Otto");
    const room = await newRoom(owner);
    expect((await api("GET", `/v1/rooms/${room.id}`, { token: other })).body.is_owner).toBe(false);
    for (const [method, path, body] of [
      ["PATCH", `/v1/rooms/${room.id}`, { name: "x" }],
      ["DELETE", `/v1/rooms/${room.id}`, undefined],
      ["POST", `/v1/rooms/${room.id}/invites`, {}],
    ] as const) {
      expect(await api(method, path, { token: other, body })).toMatchObject({
        status: 403,
        body: { error: { code: "insufficient_permissions" } },
      });
    }
    expect((await api("GET", `/v1/rooms/${room.id}`, { token: owner })).body.name).toBe("");
  });

  it("hides rooms of another tenant as if they did not exist", async () => {
    const owner = await devToken("Olga", "land-a");
    const stranger = await devToken("Olga", "land-b");
    const room = await newRoom(owner);
    for (const [method, path] of [
      ["GET", `/v1/rooms/${room.id}`],
      ["DELETE", `/v1/rooms/${room.id}`],
      ["POST", `/v1/rooms/${room.id}/start`],
    ] as const) {
      const result = await api(method, path, { token: stranger, body: method === "POST" ? {} : undefined });
      expect(result).toMatchObject({ status: 404, body: { error: { code: "not_found" } } });
    }
    // An OIDC user of another issuer is another tenant too.
    expect((await api("GET", `/v1/rooms/${room.id}`, { token: await oidcToken() })).status).toBe(404);
    expect((await api("GET", `/v1/rooms/${room.id}`, { token: owner })).status).toBe(200);
  });

  it("lets the operator token manage any room but not join one", async () => {
    const room = await newRoom(await devToken("Olga", "land-c"));
    const headers = { authorization: `Bearer ${setting("OPERATOR_TOKEN")}` };
    expect((await api("GET", `/v1/rooms/${room.id}`, { headers })).status).toBe(200);
    expect((await api("POST", `/v1/rooms/${room.id}/start`, { headers, body: {} })).body.error.code).toBe(
      "insufficient_permissions",
    );
    expect((await api("DELETE", `/v1/rooms/${room.id}`, { headers })).status).toBe(204);
  });

  it("validates and bounds request bodies", async () => {
    const token = await devToken("Vera");
    const cases: [unknown, number, string][] = [
      ["{not json", 400, "invalid_json"],
      [{ waiting_room: "sometimes" }, 400, "invalid_request"],
      [{ name: "x".repeat(201) }, 400, "invalid_request"],
      [{ unexpected: true }, 400, "invalid_request"],
      [{ name: "x".repeat(20_000) }, 413, "payload_too_large"],
    ];
    for (const [body, status, code] of cases) {
      expect(await api("POST", "/v1/rooms", { token, body })).toMatchObject({ status, body: { error: { code } } });
    }
    const room = await newRoom(token);
    expect((await api("PATCH", `/v1/rooms/${room.id}`, { token, body: {} })).body.error.code).toBe("invalid_request");
    expect((await api("GET", "/v1/rooms/bad!id", { token })).body.error.code).toBe("invalid_request");
  });
});

describe("authentication", () => {
  const rejected = async (token: string) => {
    const result = await api("POST", "/v1/rooms", { token, body: {} });
    expect(result.status).toBe(401);
    expect(result.body.error.code).toBe("unauthorized");
    expect(result.headers.get("www-authenticate")).toBe("Bearer");
    return result.body.error.message as string;
  };

  it("accepts a valid token of the configured OIDC issuer and derives the tenant from its claim", async () => {
    const token = await oidcToken();
    const room = await newRoom(token);
    expect((await api("GET", `/v1/rooms/${room.id}`, { token: await oidcToken({ sub: "user-2" }) })).status).toBe(200);
    expect(
      (await api("GET", `/v1/rooms/${room.id}`, { token: await oidcToken({ sub: "user-2", org: "land-b" }) })).status,
    ).toBe(404);
  });

  it("rejects missing, malformed, expired, foreign and tampered tokens", async () => {
    expect((await api("POST", "/v1/rooms", { body: {} })).status).toBe(401);
    await rejected("not-a-jwt");
    await rejected(await oidcToken({ exp: Math.floor(Date.now() / 1000) - 60 }));
    await rejected(await oidcToken({ aud: "someone-else" }));
    await rejected(await oidcToken({ iss: "https://evil.example" }));
    await rejected(await oidcToken({ sub: undefined }));
    const [h, p, s] = (await oidcToken()).split(".");
    const forged = base64url.encode(
      JSON.stringify({ ...JSON.parse(new TextDecoder().decode(base64url.decode(p!))), sub: "admin" }),
    );
    await rejected(`${h}.${forged}.${s}`);
  });

  it("rejects alg:none and HS256 signed with the issuer's public key", async () => {
    const claims = { iss: setting("TEST_ISSUER"), aud: "plenum", sub: "x", exp: Math.floor(Date.now() / 1000) + 60 };
    const header = base64url.encode(JSON.stringify({ alg: "none", typ: "JWT" }));
    const none = `${header}.${base64url.encode(JSON.stringify(claims))}.`;
    await rejected(none);
    // Key confusion: the attacker uses the published public key as an HMAC secret.
    const publicJwk = JSON.parse(setting("TEST_PUBLIC_JWK")) as JWK;
    const hmacKey = new TextEncoder().encode(JSON.stringify(publicJwk));
    const confused = await new SignJWT(claims).setProtectedHeader({ alg: "HS256", kid: "test-key" }).sign(hmacKey);
    expect(await rejected(confused)).toContain("ERR_JOSE_ALG_NOT_ALLOWED");
    // A token signed by a key the issuer never published.
    const { privateKey } = await generateKeyPair("RS256");
    await rejected(await new SignJWT(claims).setProtectedHeader({ alg: "RS256", kid: "test-key" }).sign(privateKey));
  });

  it("rejects a development token once development login is not trusted for its issuer", async () => {
    const token = await devToken("Dora");
    const [h, , s] = token.split(".");
    const claims = { iss: "urn:other", aud: "plenum-dev", sub: "dev:dora", exp: Math.floor(Date.now() / 1000) + 60 };
    await rejected(`${h}.${base64url.encode(JSON.stringify(claims))}.${s}`);
  });
});

describe("invites, passwords and attempt limits", () => {
  it("lets a guest start with an invite code and the room password", async () => {
    const owner = await devToken("Olga");
    const room = await newRoom(owner, { password: "s3cret" });
    const invite = await api("POST", `/v1/rooms/${room.id}/invites`, {
      token: owner,
      body: { expires_in_seconds: 3600 },
    });
    expect(invite.status).toBe(201);
    const address = { "x-test-client": "10.0.0.1" };
    const base = { invite_code: invite.body.invite_code, display_name: "Gast" };
    expect(
      (await api("POST", `/v1/rooms/${room.id}/start_invited`, { body: base, headers: address })).body.error.code,
    ).toBe("invalid_password");
    const ok = await api("POST", `/v1/rooms/${room.id}/start_invited`, {
      body: { ...base, password: "s3cret" },
      headers: address,
    });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({
      ticket: expect.any(String),
      resumption: expect.any(String),
      participant_id: expect.any(String),
    });
    // Registered non-owners need the password too; the owner does not.
    expect(
      (await api("POST", `/v1/rooms/${room.id}/start`, { token: await devToken("Otto"), body: {}, headers: address }))
        .body.error.code,
    ).toBe("invalid_password");
    expect((await start(owner, room.id)).ticket).toBeTruthy();
  });

  it("slows down brute-forced invite codes per client address", async () => {
    const owner = await devToken("Olga");
    const room = await newRoom(owner);
    const { invite_code } = (await api("POST", `/v1/rooms/${room.id}/invites`, { token: owner, body: {} })).body;
    const guess = (code: string, address: string) =>
      api("POST", `/v1/rooms/${room.id}/start_invited`, {
        body: { invite_code: code, display_name: "Mallory" },
        headers: { "x-test-client": address },
      });
    const limit = Number(setting("ATTEMPT_LIMIT"));
    for (let i = 0; i < limit; i++) {
      expect((await guess(`guess${i}`.padEnd(24, "x"), "203.0.113.9")).body.error.code).toBe("invalid_invite");
    }
    const blocked = await guess(invite_code, "203.0.113.9");
    expect(blocked.status).toBe(429);
    expect(blocked.body.error.code).toBe("too_many_attempts");
    expect(Number(blocked.headers.get("retry-after"))).toBeGreaterThan(0);
    // Another address is unaffected, and the right code works there.
    expect((await guess(invite_code, "203.0.113.10")).status).toBe(200);
  });

  it("rejects expired invite codes", async () => {
    const owner = await devToken("Olga");
    const room = await newRoom(owner);
    expect(
      (await api("POST", `/v1/rooms/${room.id}/invites`, { token: owner, body: { expires_in_seconds: 5 } })).status,
    ).toBe(400);
    const { invite_code } = (
      await api("POST", `/v1/rooms/${room.id}/invites`, { token: owner, body: { expires_in_seconds: 60 } })
    ).body;
    const attempt = () =>
      api("POST", `/v1/rooms/${room.id}/start_invited`, {
        body: { invite_code, display_name: "Gast" },
        headers: { "x-test-client": "10.9.9.9" },
      });
    expect((await attempt()).status).toBe(200);
    await timeTravel.expireInvites(room.id);
    expect((await attempt()).body.error.code).toBe("invalid_invite");
  });
});

describe("shared settings (GET /v1/operator/settings)", () => {
  it("gives operators a fingerprint of each fleet-wide setting, never a value or a shard's own secret", async () => {
    expect((await api("GET", "/v1/operator/settings")).status).toBe(401);
    const user = await devToken("Ulla");
    expect((await api("GET", "/v1/operator/settings", { token: user })).status).toBe(403);
    const operator = { authorization: `Bearer ${setting("OPERATOR_TOKEN")}` };
    const { status, body } = await api("GET", "/v1/operator/settings", { headers: operator });
    expect(status).toBe(200);
    expect(Object.keys(body.settings)).toEqual(expect.arrayContaining(["TURN_NODES", "REGION_RULES", "OIDC_ISSUERS"]));
    for (const own of ["PLENUM_SHARD", "OPERATOR_TOKEN", "STATE_ENCRYPTION_KEY"]) {
      expect(body.settings[own]).toBeUndefined();
    }
    for (const fingerprint of Object.values(body.settings)) expect(fingerprint).toMatch(/^[\w-]{16}$/);
    // Settings with different values have different fingerprints (the TURN nodes are not the region rules).
    expect(body.settings.TURN_NODES).not.toBe(body.settings.REGION_RULES);
    expect(JSON.stringify(body)).not.toContain(setting("TURN_NODES").slice(0, 20));
  });
});
