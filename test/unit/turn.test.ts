import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { coturnConfig } from "../../turn/coturn-config";
import { mintTurnCredential } from "../../turn/credentials";
import { nodeUrls, selectNodes, type TurnNode, TurnNodeSchema } from "../../turn/fleet";
import { transition } from "../../turn/keyring";
import { RegionRulesSchema, resolveRegion } from "../../turn/region";
import { bindingRequest, isBindingSuccess } from "../../turn/stun";

// Pure TURN logic; the real coturn checks the same things in test/e2e/turn.test.ts.
describe("TURN REST credentials", () => {
  it("are <expiry>:<id> with base64(HMAC-SHA1(secret, username))", async () => {
    const credential = await mintTurnCredential("s3cr3t", "conn_1", 1_800_000_000);
    expect(credential.username).toBe("1800000000:conn_1");
    expect(credential.credential).toBe(createHmac("sha1", "s3cr3t").update("1800000000:conn_1").digest("base64"));
    await expect(mintTurnCredential("s", "alice@example.org", 1)).rejects.toThrow();
  });
});

describe("STUN probe messages", () => {
  it("recognise the success response to their own request only", () => {
    const request = bindingRequest(new Uint8Array(12).fill(7));
    expect(Array.from(request.subarray(0, 8))).toEqual([0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42]);
    const response = new Uint8Array(32);
    response.set([0x01, 0x01, 0, 12, 0x21, 0x12, 0xa4, 0x42]);
    response.set(request.subarray(8, 20), 8);
    expect(isBindingSuccess(request, response)).toBe(true);
    expect(isBindingSuccess(bindingRequest(new Uint8Array(12).fill(8)), response)).toBe(false);
    expect(isBindingSuccess(request, response.subarray(0, 10))).toBe(false);
  });
});

describe("node selection", () => {
  const node = (id: string, region: string, weight = 1): TurnNode =>
    TurnNodeSchema.parse({ id, region, host: `${id}.example`, weight });
  const fleet = [
    node("e1", "east"),
    node("e2", "east"),
    node("e3", "east"),
    node("w1", "west"),
    node("s1", "south", 5),
  ];
  const all = () => true;

  it("puts the client's region first, then its neighbour, at most two regions", () => {
    const picked = selectNodes(fleet, all, "west", { west: ["east"] }, () => 0);
    expect(picked.map((n) => n.region)).toEqual(["west", "east", "east"]);
  });

  it("never hands out an unhealthy node and falls back to the next region", () => {
    const picked = selectNodes(
      fleet,
      (n) => n.region !== "west",
      "west",
      { west: ["east", "south"] },
      () => 0.5,
    );
    expect(picked.every((n) => n.region === "east" || n.region === "south")).toBe(true);
    expect(picked.map((n) => n.region)).toEqual(["east", "east", "south"]);
    expect(selectNodes(fleet, () => false, "west", {})).toEqual([]);
  });

  it("without a region prefers the heaviest regions, and draws nodes by weight", () => {
    expect(selectNodes(fleet, all, undefined, {}, () => 0)[0]!.region).toBe("south");
    const counts = new Map<string, number>();
    const weighted = [node("a", "r", 3), node("b", "r", 1)];
    let seed = 1;
    const random = () => {
      seed = (seed * 16807) % 2147483647;
      return seed / 2147483647;
    };
    for (let i = 0; i < 2000; i++) {
      const first = selectNodes(weighted, all, "r", {}, random)[0]!.id;
      counts.set(first, (counts.get(first) ?? 0) + 1);
    }
    expect(counts.get("a")! / 2000).toBeGreaterThan(0.68);
    expect(counts.get("a")! / 2000).toBeLessThan(0.82);
  });

  it("builds udp, tcp and turns URLs", () => {
    expect(nodeUrls(node("e1", "east"))).toEqual([
      "turn:e1.example:3478?transport=udp",
      "turn:e1.example:3478?transport=tcp",
      "turns:e1.example:443?transport=tcp",
    ]);
  });
});

describe("region resolution", () => {
  const rules = RegionRulesSchema.parse({
    header: "x-region",
    subnets: [
      { cidr: "10.20.0.0/16", region: "thueringen" },
      { cidr: "2001:db8::/32", region: "sachsen" },
    ],
    cloudflare: { "DE-TH": "thueringen", DE: "germany" },
    default: "germany",
  });
  it("uses Cloudflare metadata, then the proxy header, then subnets, then the default", () => {
    expect(resolveRegion(rules, { cf: { country: "DE", regionCode: "TH" } })).toBe("thueringen");
    expect(resolveRegion(rules, { cf: { country: "DE", regionCode: "BY" } })).toBe("germany");
    expect(resolveRegion(rules, { header: "sachsen", address: "10.20.1.1" })).toBe("sachsen");
    expect(resolveRegion(rules, { address: "10.20.1.1" })).toBe("thueringen");
    expect(resolveRegion(rules, { address: "2001:db8::5" })).toBe("sachsen");
    expect(resolveRegion(rules, { address: "::ffff:10.20.3.4" })).toBe("thueringen");
    expect(resolveRegion(rules, { address: "not an address" })).toBe("germany");
  });
});

describe("keyring transitions", () => {
  const ring = [
    { id: "a", state: "active" as const },
    { id: "b", state: "staged" as const },
    { id: "c", state: "retiring" as const },
    { id: "d", state: "removed" as const },
  ];
  it("activating retires the active secret", () => {
    expect(transition(ring, "activate", "b")).toEqual({
      ok: true,
      changes: [
        { id: "a", state: "retiring" },
        { id: "b", state: "active" },
      ],
    });
  });
  it("refuses to remove the active secret or touch removed ones", () => {
    expect(transition(ring, "remove", "a")).toMatchObject({ ok: false, code: "conflict" });
    expect(transition(ring, "activate", "d")).toMatchObject({ ok: false, code: "not_found" });
    expect(transition(ring, "retire", "b")).toMatchObject({ ok: false, code: "conflict" });
    expect(transition(ring, "remove", "c")).toEqual({ ok: true, changes: [{ id: "c", state: "removed" }] });
  });
});

describe("coturn configuration", () => {
  it("is hardened: REST auth, userdb, no private or loopback peers, CLI on loopback", () => {
    const conf = coturnConfig({
      node: TurnNodeSchema.parse({ id: "e1", region: "east", host: "turn.example" }),
      realm: "plenum.example",
      listeningIp: "192.0.2.10",
      userdb: { redis: "ip=10.0.0.2 dbname=0" },
      tls: { cert: "/etc/ssl/turn.pem", pkey: "/etc/ssl/turn.key" },
      cliPassword: "pw",
      allowedPeers: ["10.0.3.5", "10.0.4.0-10.0.4.255"],
    });
    for (const line of [
      "use-auth-secret",
      "realm=plenum.example",
      'redis-userdb="ip=10.0.0.2 dbname=0"',
      "tls-listening-port=443",
      "cert=/etc/ssl/turn.pem",
      "fingerprint",
      "no-multicast-peers",
      "denied-peer-ip=10.0.0.0-10.255.255.255",
      "denied-peer-ip=127.0.0.0-127.255.255.255",
      "cli-ip=127.0.0.1",
      // The SFU nodes' private addresses stay reachable for relays, nothing else of 10/8.
      "allowed-peer-ip=10.0.3.5",
      "allowed-peer-ip=10.0.4.0-10.0.4.255",
      // Relays carry UDP media only: no TCP connections to an allowed peer's ports (an SFU's control API).
      "no-tcp-relay",
    ]) {
      expect(conf.split("\n")).toContain(line);
    }
    expect(conf).not.toContain("allow-loopback-peers");
  });

  it("relays TCP only when the operator asks for it", () => {
    const conf = coturnConfig({
      node: TurnNodeSchema.parse({ id: "e1", region: "east", host: "turn.example" }),
      realm: "plenum.example",
      listeningIp: "192.0.2.10",
      userdb: { sqlite: "/var/lib/turn/turndb" },
      cliPassword: "pw",
      allowTcpRelay: true,
    });
    expect(conf.split("\n")).not.toContain("no-tcp-relay");
  });
});
