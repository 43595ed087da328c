import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { timeTravel } from "./harness";
import { api, devToken, newRoom, oidcToken, setting } from "./helpers";

const operatorHeaders = { authorization: `Bearer ${setting("OPERATOR_TOKEN")}` };
const limit = () => Number(setting("ATTEMPT_LIMIT"));

describe("operator rights come only from the operators' issuer", () => {
  afterEach(() => vi.restoreAllMocks());

  it("ignores an operator claim in a tenant issuer's token", async () => {
    const other = await newRoom(await devToken("Olga", "land-x"));
    const tenantOperator = await oidcToken({ plenum_role: "operator" });
    expect((await api("GET", "/v1/operator/sfu/nodes", { token: tenantOperator })).status).toBe(403);
    expect((await api("GET", `/v1/rooms/${other.id}/diagnostics`, { token: tenantOperator })).status).toBe(403);
    // Another tenant's room does not exist for it, so it can neither read nor delete it.
    expect((await api("DELETE", `/v1/rooms/${other.id}`, { token: tenantOperator })).status).toBe(404);
    expect((await api("GET", `/v1/rooms/${other.id}`, { token: operatorHeaders.authorization.slice(7) })).status).toBe(
      200,
    );
  });

  it("grants operator rights to the issuer whose entry names the claim, and logs every operator action", async () => {
    const iss = setting("TEST_OPERATOR_ISSUER");
    const other = await newRoom(await devToken("Olga", "land-y"));
    expect((await api("GET", "/v1/operator/sfu/nodes", { token: await oidcToken({ iss }) })).status).toBe(403);
    const operator = await oidcToken({ iss, sub: "ops-7", plenum_role: ["auditor", "operator"] });
    const log = vi.spyOn(console, "log");
    expect((await api("GET", "/v1/operator/sfu/nodes", { token: operator })).status).toBe(200);
    expect((await api("DELETE", `/v1/rooms/${other.id}`, { token: operator })).status).toBe(204);
    expect((await api("GET", `/v1/rooms/${other.id}`, { headers: operatorHeaders })).status).toBe(404);
    const lines = log.mock.calls.map(([line]) => String(line)).filter((line) => line.includes("operator_action"));
    expect(lines.map((line) => JSON.parse(line))).toEqual([
      {
        event: "operator_action",
        operator: `${iss}#ops-7`,
        action: "GET /v1/operator/sfu/nodes",
        room: null,
        target: null,
        status: 200,
      },
      {
        event: "operator_action",
        operator: `${iss}#ops-7`,
        action: "DELETE /v1/rooms/:id",
        room: other.id,
        target: null,
        status: 204,
      },
      {
        event: "operator_action",
        operator: "operator-token",
        action: "GET /v1/rooms/:id",
        room: other.id,
        target: null,
        status: 404,
      },
    ]);
    expect(lines.join("\n")).not.toContain(setting("OPERATOR_TOKEN"));
    expect(lines.join("\n")).not.toContain(operator);
  });
});

describe("attempt limits", () => {
  const wrongPassword = (roomId: string, token: string, address: string) =>
    api("POST", `/v1/rooms/${roomId}/start`, {
      token,
      body: { password: "wrong" },
      headers: { "x-test-client": address },
    });

  it("checks no more passwords than the limit however many guesses run in parallel", async () => {
    const room = await newRoom(await devToken("Olga"), { password: "richtig" });
    const token = await devToken("Mallory");
    const results = await Promise.all(Array.from({ length: 20 }, () => wrongPassword(room.id, token, "198.51.100.7")));
    const codes = results.map((r) => r.body.error.code);
    expect(codes.filter((c) => c === "invalid_password")).toHaveLength(limit());
    expect(codes.filter((c) => c === "too_many_attempts")).toHaveLength(20 - limit());
    // The count lives in the limiter's SQLite, not in memory that a restart would forget.
    const stored = await runInDurableObject(
      env.ATTEMPT_LIMITER.get(env.ATTEMPT_LIMITER.idFromName("198.51.100.7")),
      (_instance, state) => state.storage.sql.exec<{ used: number }>("SELECT used FROM attempt_window").one().used,
    );
    expect(stored).toBe(limit());
  });

  it("gives a successful attempt's slot back, so many joins from one address never lock it out", async () => {
    const room = await newRoom(await devToken("Olga"), { password: "richtig" });
    const address = { "x-test-client": "192.0.2.44" };
    const rightPassword = (token: string) =>
      api("POST", `/v1/rooms/${room.id}/start`, { token, body: { password: "richtig" }, headers: address });
    const people = await Promise.all(Array.from({ length: limit() * 2 }, (_, i) => devToken(`Referent ${i}`)));
    // A whole department behind one address joins at once: the first `limit` run, the others wait a moment.
    const burst = await Promise.all(people.map(rightPassword));
    expect(burst.filter((r) => r.status === 200).length).toBeGreaterThanOrEqual(limit());
    for (const refused of burst.filter((r) => r.status !== 200)) {
      expect(refused.body.error.code).toBe("too_many_attempts");
      expect(refused.headers.get("retry-after")).toBe("1");
    }
    // One after another all of them get in, more than the limit, and none of that counts as a failure.
    for (const token of people) expect((await rightPassword(token)).status).toBe(200);
    const mallory = await devToken("Mallory");
    for (let i = 0; i < limit(); i++) {
      expect((await wrongPassword(room.id, mallory, "192.0.2.44")).body.error.code).toBe("invalid_password");
    }
    const blocked = await wrongPassword(room.id, mallory, "192.0.2.44");
    expect(blocked.body.error.code).toBe("too_many_attempts");
    expect(Number(blocked.headers.get("retry-after"))).toBeGreaterThan(1);
    expect((await rightPassword(people[0]!)).status).toBe(429);
  });

  it("forgets an address once its window has passed", async () => {
    const room = await newRoom(await devToken("Olga"), { password: "richtig" });
    const token = await devToken("Mallory");
    for (let i = 0; i < limit(); i++) await wrongPassword(room.id, token, "192.0.2.99");
    expect((await wrongPassword(room.id, token, "192.0.2.99")).body.error.code).toBe("too_many_attempts");
    const limiter = env.ATTEMPT_LIMITER.get(env.ATTEMPT_LIMITER.idFromName("192.0.2.99"));
    // The window began long ago: its alarm erases what the limiter stored about the address.
    await runInDurableObject(limiter, (_instance, state) => {
      state.storage.sql.exec("UPDATE attempt_window SET window_start = ?", Date.now() - 3_600_000);
    });
    expect(await runDurableObjectAlarm(limiter)).toBe(true);
    const tables = await runInDurableObject(limiter, (_instance, state) =>
      state.storage.sql.exec("SELECT name FROM sqlite_master WHERE name = 'attempt_window'").toArray(),
    );
    expect(tables).toEqual([]);
    expect((await wrongPassword(room.id, token, "192.0.2.99")).body.error.code).toBe("invalid_password");
  });

  it("never lets a slot from a past window free one in the next", async () => {
    const limiter = env.ATTEMPT_LIMITER.get(env.ATTEMPT_LIMITER.idFromName("192.0.2.123"));
    const stored = await runInDurableObject(limiter, async (instance, state) => {
      // An attempt took its slot an hour ago and is still running; meanwhile a new window began.
      const old = await instance.reserve();
      state.storage.sql.exec("UPDATE attempt_window SET window_start = window_start - 3600000");
      const fresh = await instance.reserve();
      instance.release(fresh.window!, true);
      // The old attempt ends now: its slot belonged to the past window and frees nothing in this one.
      instance.release(old.window! - 3_600_000, false);
      return state.storage.sql
        .exec<{ used: number; holding: number }>("SELECT used, holding FROM attempt_window")
        .one();
    });
    expect(stored).toEqual({ used: 1, holding: 0 });
  });

  it("counts an IPv6 client's whole /64 as one address", async () => {
    const room = await newRoom(await devToken("Olga"), { password: "richtig" });
    const token = await devToken("Mallory");
    for (let i = 1; i <= limit(); i++) {
      expect((await wrongPassword(room.id, token, `2001:db8:7:1::${i.toString(16)}`)).body.error.code).toBe(
        "invalid_password",
      );
    }
    expect((await wrongPassword(room.id, token, "2001:db8:7:1:ffff::1")).body.error.code).toBe("too_many_attempts");
    expect((await wrongPassword(room.id, token, "2001:db8:7:2::1")).body.error.code).toBe("invalid_password");
  });
});

describe("invitations", () => {
  const guest = (roomId: string, code: string, extra: Record<string, unknown> = {}, address = "10.20.0.1") =>
    api("POST", `/v1/rooms/${roomId}/start_invited`, {
      body: { invite_code: code, display_name: "Gast", ...extra },
      headers: { "x-test-client": address },
    });

  it("expire by default, can be limited in uses, and are listed without their codes", async () => {
    const owner = await devToken("Olga");
    const room = await newRoom(owner);
    const before = Date.now();
    const created = await api("POST", `/v1/rooms/${room.id}/invites`, { token: owner, body: {} });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ id: expect.any(String), invite_code: expect.any(String), max_uses: null });
    const ttl = Number(setting("INVITE_TTL_SECONDS") ?? 14 * 24 * 3600) * 1000;
    expect(Date.parse(created.body.expires_at) - before).toBeGreaterThanOrEqual(ttl - 1000);
    expect(Date.parse(created.body.expires_at) - before).toBeLessThanOrEqual(ttl + 60_000);
    const limited = (await api("POST", `/v1/rooms/${room.id}/invites`, { token: owner, body: { max_uses: 2 } })).body;
    expect(limited.max_uses).toBe(2);
    expect((await guest(room.id, limited.invite_code)).status).toBe(200);
    const second = await guest(room.id, limited.invite_code);
    expect(second.status).toBe(200);
    const third = await guest(room.id, limited.invite_code);
    expect(third.status).toBe(403);
    expect(third.body.error.code).toBe("invalid_invite");
    // A guest coming back with their resumption token is no new use and gets in although the invite is used up.
    const back = await guest(room.id, limited.invite_code, { resumption: second.body.resumption });
    expect(back.status).toBe(200);
    expect(back.body.participant_id).toBe(second.body.participant_id);
    const listed = await api("GET", `/v1/rooms/${room.id}/invites`, { token: owner });
    expect(listed.status).toBe(200);
    expect(listed.body.invites).toEqual([
      expect.objectContaining({ id: created.body.id, uses: 0, max_uses: null, expires_at: created.body.expires_at }),
      expect.objectContaining({ id: limited.id, uses: 2, max_uses: 2 }),
    ]);
    expect(JSON.stringify(listed.body)).not.toContain(created.body.invite_code);
    expect(JSON.stringify(listed.body)).not.toContain(limited.invite_code);
    expect((await api("GET", `/v1/rooms/${room.id}/invites`, { token: await devToken("Otto") })).status).toBe(403);
    expect((await api("POST", `/v1/rooms/${room.id}/invites`, { token: owner, body: { max_uses: 0 } })).status).toBe(
      400,
    );
  });

  it("never counts more uses than allowed, however many guests start at once", async () => {
    const owner = await devToken("Olga");
    // A password makes every start wait for its check between reading the invite and counting the use.
    const room = await newRoom(owner, { password: "richtig" });
    const { invite_code } = (await api("POST", `/v1/rooms/${room.id}/invites`, { token: owner, body: { max_uses: 3 } }))
      .body;
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => guest(room.id, invite_code, { password: "richtig" }, `10.21.0.${i + 1}`)),
    );
    expect(results.filter((r) => r.status === 200)).toHaveLength(3);
    expect(results.filter((r) => r.body.error?.code === "invalid_invite")).toHaveLength(9);
    const listed = await api("GET", `/v1/rooms/${room.id}/invites`, { token: owner });
    expect(listed.body.invites[0].uses).toBe(3);
  });

  it("let a returning guest in after expiry, until the invite is revoked", async () => {
    const owner = await devToken("Olga");
    const room = await newRoom(owner);
    const invite = (await api("POST", `/v1/rooms/${room.id}/invites`, { token: owner, body: {} })).body;
    const first = await guest(room.id, invite.invite_code);
    expect(first.status).toBe(200);
    await timeTravel.expireInvites(room.id);
    expect((await guest(room.id, invite.invite_code)).body.error.code).toBe("invalid_invite");
    const back = await guest(room.id, invite.invite_code, { resumption: first.body.resumption });
    expect(back.body.participant_id).toBe(first.body.participant_id);

    expect(
      (await api("DELETE", `/v1/rooms/${room.id}/invites/${invite.id}`, { token: await devToken("Otto") })).status,
    ).toBe(403);
    expect((await api("DELETE", `/v1/rooms/${room.id}/invites/${invite.id}`, { token: owner })).status).toBe(204);
    expect((await api("DELETE", `/v1/rooms/${room.id}/invites/${invite.id}`, { token: owner })).status).toBe(404);
    const revoked = await guest(room.id, invite.invite_code, { resumption: back.body.resumption });
    expect(revoked.status).toBe(403);
    expect(revoked.body.error.code).toBe("invalid_invite");
    expect((await api("GET", `/v1/rooms/${room.id}/invites`, { token: owner })).body.invites).toEqual([]);
  });

  it("ties a guest's resumption to the invite they came with", async () => {
    const owner = await devToken("Olga");
    const room = await newRoom(owner);
    const a = (await api("POST", `/v1/rooms/${room.id}/invites`, { token: owner, body: {} })).body;
    const b = (await api("POST", `/v1/rooms/${room.id}/invites`, { token: owner, body: { max_uses: 1 } })).body;
    const first = await guest(room.id, a.invite_code);
    expect((await guest(room.id, b.invite_code)).status).toBe(200);
    // With another (used-up) invite the token does not count as coming back: that would be a new use.
    expect((await guest(room.id, b.invite_code, { resumption: first.body.resumption })).body.error.code).toBe(
      "invalid_invite",
    );
  });
});
