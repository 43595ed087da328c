import { describe, expect, it } from "vitest";
import { janusConfigFiles, janusSecrets } from "../../scripts/janus-config";
import { sfuFailureText } from "../../src/sfu/janus";
import { ConfigSchema } from "../../src/shared/config";
import { attemptKey, clientAddress } from "../../src/shared/region";

const configWith = (header: string) => ConfigSchema.parse({ CLIENT_IP_HEADER: header });
const request = (headers: Record<string, string>) => new Request("https://plenum.test/", { headers });

describe("client addresses", () => {
  it("trusts only the last X-Forwarded-For hop, the one our proxy appended", () => {
    const config = configWith("x-forwarded-for");
    expect(clientAddress(request({ "x-forwarded-for": "203.0.113.5, 198.51.100.9" }), config)).toBe("198.51.100.9");
    expect(clientAddress(request({ "x-forwarded-for": "198.51.100.9" }), config)).toBe("198.51.100.9");
    expect(clientAddress(request({}), config)).toBe("unknown");
    expect(clientAddress(request({ "x-real-ip": "192.0.2.1" }), configWith("x-real-ip"))).toBe("192.0.2.1");
  });

  it("counts IPv6 clients by their /64 and IPv4 (also IPv4-mapped) by address", () => {
    expect(attemptKey("2001:db8:1:2:3:4:5:6")).toBe("2001:db8:1:2::/64");
    expect(attemptKey("2001:db8:1:2::ffff")).toBe("2001:db8:1:2::/64");
    expect(attemptKey("2001:db8:1:3::1")).not.toBe(attemptKey("2001:db8:1:2::1"));
    expect(attemptKey("::ffff:192.0.2.7")).toBe("192.0.2.7");
    expect(attemptKey("192.0.2.7")).toBe("192.0.2.7");
    expect(attemptKey("unknown")).toBe("unknown");
  });
});

describe("configuration", () => {
  it("refuses the removed global OPERATOR_CLAIM and points to the issuer's field", () => {
    const parsed = ConfigSchema.safeParse({ OPERATOR_CLAIM: "plenum_role=operator" });
    expect(parsed.success).toBe(false);
    expect(JSON.stringify(parsed.error?.issues)).toContain('\\"operator_claim\\": \\"plenum_role=operator\\"');
  });

  it("gives no issuer operator rights unless its entry says so", () => {
    const issuers = ConfigSchema.parse({
      OIDC_ISSUERS: JSON.stringify([
        { issuer: "https://a.example", audience: "plenum", jwks_uri: "https://a.example/jwks" },
        {
          issuer: "https://ops.example",
          audience: "plenum",
          jwks_uri: "https://ops.example/jwks",
          operator_claim: "role=operator",
        },
      ]),
    }).OIDC_ISSUERS;
    expect(issuers.map((i) => i.operator_claim)).toEqual([undefined, "role=operator"]);
  });
});

describe("Janus node configuration", () => {
  it("closes the REST API with a generated api_secret", () => {
    const secrets = janusSecrets();
    expect(secrets.apiSecret).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(secrets.apiSecret).not.toBe(janusSecrets().apiSecret);
    const files = janusConfigFiles({
      configDir: "/etc/janus",
      apiIp: "10.0.3.5",
      apiPort: 8088,
      adminPort: 7088,
      ...secrets,
    });
    expect(files["janus.jcfg"]).toContain(`api_secret = "${secrets.apiSecret}"`);
    expect(files["janus.jcfg"]).toContain(`admin_secret = "${secrets.adminSecret}"`);
    expect(files["janus.transport.http.jcfg"]).toContain('ip = "10.0.3.5"');
  });
});

describe("SFU failures as clients hear of them", () => {
  it("maps Janus codes to fixed texts and never passes Janus's own reason on", () => {
    expect(sfuFailureText(465)).toBe("the SFU could not use the session description");
    expect(sfuFailureText(490)).toBe("the SFU refused the request (490)");
    expect(sfuFailureText(428)).toBe("that stream is not published on the SFU");
    expect(sfuFailureText(403)).toBe("the SFU refused the room's credentials");
    expect(sfuFailureText(499)).toBe("the SFU refused the request (499)");
    expect(sfuFailureText(undefined)).toBe("the SFU did not answer");
  });
});
