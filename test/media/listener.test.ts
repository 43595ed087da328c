import { describe, expect, it } from "vitest";
import { NETNS_MEDIA_IP } from "../../scripts/in-netns";
import { startServer } from "../../scripts/local-server";
import { call } from "../helpers/client";

// A listener on a non-loopback address, inside the test's network namespace (nothing outside can reach it).
describe("npm start on an address other machines can reach", () => {
  it("keeps development login off unless DEV_LOGIN=enabled, and then warns", async () => {
    const server = await startServer({ host: NETNS_MEDIA_IP });
    try {
      expect((await call(server.base, "GET", "/v1/auth/options")).body.dev_login).toBe(false);
      const refused = await call(server.base, "POST", "/v1/auth/dev-login", { body: { name: "Mallory" } });
      expect(refused).toMatchObject({ status: 404, body: { error: { code: "dev_login_disabled" } } });
      expect(server.output()).not.toContain("development login");
      // Outside Cloudflare the default client-address header is whatever the client says.
      expect(server.output()).toContain("WARNING: CLIENT_IP_HEADER is not set");
    } finally {
      await server.stop();
    }

    const enabled = await startServer({
      host: NETNS_MEDIA_IP,
      env: { DEV_LOGIN: "enabled", CLIENT_IP_HEADER: "x-real-ip" },
    });
    try {
      expect((await call(enabled.base, "POST", "/v1/auth/dev-login", { body: { name: "Alice" } })).status).toBe(200);
      expect(enabled.output()).toContain(`WARNING: development login is enabled on ${NETNS_MEDIA_IP}:`);
      expect(enabled.output()).not.toContain("CLIENT_IP_HEADER");
    } finally {
      await enabled.stop();
    }
  });
});
