import { describe, expect, it } from "vitest";
import { workerdConfig } from "../../scripts/workerd-config";
import { ClientFrameSchema, CreateRoomRequestSchema, parseSubprotocols, ServerFrameSchema } from "../../src/protocol";
import { ConfigSchema } from "../../src/shared/config";

describe("subprotocol header", () => {
  it("finds the version and the ticket", () => {
    expect(parseSubprotocols("plenum-signaling-v1, ticket#abc_DEF-123")).toEqual({
      versionOffered: true,
      ticket: "abc_DEF-123",
    });
    expect(parseSubprotocols("ticket#abc")).toEqual({ versionOffered: false, ticket: "abc" });
    expect(parseSubprotocols("plenum-signaling-v1, ticket#")).toEqual({ versionOffered: true, ticket: undefined });
    expect(parseSubprotocols(null)).toEqual({ versionOffered: false, ticket: undefined });
  });
});

describe("schemas", () => {
  it("accept the contract's frames and refuse extras", () => {
    expect(
      ClientFrameSchema.safeParse({
        namespace: "chat",
        payload: { action: "send_message", content: "hi" },
        transaction_id: 1,
      }).success,
    ).toBe(true);
    expect(
      ClientFrameSchema.safeParse({ namespace: "chat", payload: { action: "x" }, transaction_id: -1 }).success,
    ).toBe(false);
    expect(ClientFrameSchema.safeParse({ namespace: "chat", payload: {} }).success).toBe(false);
    const frame = {
      namespace: "chat",
      timestamp: new Date().toISOString(),
      payload: {
        message: "message_sent",
        id: "1",
        source: "abcdefgh12",
        content: "hi",
        scope: "global",
        timestamp: new Date().toISOString(),
      },
    };
    expect(ServerFrameSchema.safeParse(frame).success).toBe(true);
    expect(CreateRoomRequestSchema.parse({})).toEqual({ waiting_room: "disabled" });
  });
});

describe("configuration", () => {
  it("has safe production defaults and rejects bad values", () => {
    const defaults = ConfigSchema.parse({});
    expect(defaults.DEV_LOGIN).toBe("disabled");
    expect(defaults.TICKET_TTL_SECONDS).toBe(30);
    expect(defaults.RESUMPTION_WINDOW_SECONDS).toBe(120);
    expect(defaults.RATE_LIMIT_PER_SECOND).toBe(10);
    expect(defaults.RATE_LIMIT_BURST).toBe(30);
    expect(ConfigSchema.safeParse({ OIDC_ISSUERS: "not json" }).success).toBe(false);
    expect(ConfigSchema.safeParse({ OIDC_ISSUERS: JSON.stringify([{ issuer: "x", audience: "y" }]) }).success).toBe(
      false,
    );
    expect(
      ConfigSchema.safeParse({
        OIDC_ISSUERS: JSON.stringify([
          { issuer: "x", audience: "y", algorithms: ["HS256"], jwks_uri: "https://x/jwks" },
        ]),
      }).success,
    ).toBe(false);
    expect(ConfigSchema.safeParse({ OPERATOR_TOKEN: "short" }).success).toBe(false);
  });

  it("generates a workerd config with SQLite objects on local disk", () => {
    const capnp = workerdConfig({
      listen: "127.0.0.1:9999",
      stateDir: "/var/lib/plenum/state",
      bundle: "../dist/worker.js",
      compatibilityDate: "2026-04-26",
      settings: { DEV_LOGIN: "enabled" },
    });
    expect(capnp).toContain('address = "127.0.0.1:9999"');
    expect(capnp).toContain('disk = (path = "/var/lib/plenum/state", writable = true)');
    expect(capnp).toContain('(className = "RoomObject", uniqueKey = "plenum-rooms", enableSql = true)');
    expect(capnp).toContain('(name = "DEV_LOGIN", text = "enabled")');
    expect(capnp).toContain('"no_web_socket_compression"');
  });
});
