import { describe, expect, it } from "vitest";
import { nginxConfig } from "../../scripts/nginx-config";
import { ErrorBodySchema, RoomIdSchema, shardOfRoom } from "../../src/protocol";
import { ShardListSchema, shardProblem } from "../../src/shared/shards";

describe("shards (pure logic)", () => {
  it("parse the fleet list and refuse malformed or repeated entries", () => {
    expect(ShardListSchema.parse(" s1=http://10.0.0.1:8787/ , s2=https://b.example ")).toEqual([
      { id: "s1", url: "http://10.0.0.1:8787" },
      { id: "s2", url: "https://b.example" },
    ]);
    expect(ShardListSchema.parse("")).toEqual([]);
    for (const bad of ["s1", "S1=http://a", "s1=ftp://a", "s1=http://a,s1=http://b", "1a=http://a"]) {
      expect(ShardListSchema.safeParse(bad).success, bad).toBe(false);
    }
    const fleet = ShardListSchema.parse("s1=http://a,s2=http://b");
    expect(shardProblem("s2", fleet)).toBeUndefined();
    expect(shardProblem(undefined, [])).toBeUndefined();
    expect(shardProblem("s3", fleet)).toMatch(/not one of PLENUM_SHARDS \(s1, s2\)/);
    expect(shardProblem(undefined, fleet)).toMatch(/set PLENUM_SHARD/);
  });

  it("name a room's shard in its id, and ids from before shards name none", () => {
    expect(RoomIdSchema.safeParse("s2.m1XAFxG2ZyN3Dtq0ko4dxw").success).toBe(true);
    expect(RoomIdSchema.safeParse("m1XAFxG2ZyN3Dtq0ko4dxw").success).toBe(true);
    for (const bad of [
      "S2.m1XAFxG2ZyN3Dtq0ko4dxw",
      "s2.s3.m1XAFxG2ZyN3Dtq0ko4dxw",
      ".m1XAFxG2ZyN3Dtq0ko4dxw",
      "s2.short",
    ]) {
      expect(RoomIdSchema.safeParse(bad).success, bad).toBe(false);
    }
    expect(shardOfRoom("s2.m1XAFxG2ZyN3Dtq0ko4dxw")).toBe("s2");
    expect(shardOfRoom("m1XAFxG2ZyN3Dtq0ko4dxw")).toBeUndefined();
  });

  it("write an nginx config that routes each shard's rooms to it and prefix-less ids to the first", () => {
    const shards = ShardListSchema.parse("s1=http://10.0.0.1:8787,any=http://10.0.0.2:8787");
    const conf = nginxConfig({
      shards,
      listen: "443",
      serverName: "meet.example",
      clientIpHeader: "X-Real-IP",
      tls: { cert: "/etc/c.pem", key: "/etc/k.pem" },
    });
    const map = conf.slice(conf.indexOf("map $uri"), conf.indexOf("}", conf.indexOf("map $uri")));
    // In order: each shard's prefix, then ids without one (first shard), then everything else (any shard).
    expect(
      map
        .split("\n")
        .filter((l) => l.includes("plenum_") && !l.startsWith("map"))
        .map((l) => l.trim()),
    ).toEqual([
      "~^/v1/rooms/s1\\.  plenum_shard_s1;",
      "~^/v1/rooms/any\\.  plenum_shard_any;",
      '"~^/v1/rooms/[^/.]+(/|$)"  plenum_shard_s1;',
      "default  plenum_fleet;",
    ]);
    expect(conf).toContain("upstream plenum_shard_any {\n    server 10.0.0.2:8787");
    expect(conf).toContain("proxy_set_header x-real-ip $remote_addr;");
    expect(conf).toContain("proxy_set_header Upgrade $http_upgrade;");
    expect(conf).toContain("listen 443 ssl;");
    expect(conf).toContain("ssl_certificate_key /etc/k.pem;");
    expect(conf).toMatch(/proxy_read_timeout 12h;/);
    expect(conf).toContain("location /v1/operator/ {");
    // The proxy's own answers are the protocol's error bodies.
    for (const [, body] of conf.matchAll(/return \d{3} '([^']+)';/g)) {
      expect(ErrorBodySchema.safeParse(JSON.parse(body!)).success, body).toBe(true);
    }
    expect(conf).toContain("error_page 502 504 = @plenum_unavailable;");
    expect(() =>
      nginxConfig({
        shards: ShardListSchema.parse("s1=http://a,s2=https://b"),
        listen: "80",
        serverName: "_",
        clientIpHeader: "x-real-ip",
      }),
    ).toThrow(/all be http or all https/);
  });
});
