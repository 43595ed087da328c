import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { SUBPROTOCOL, TICKET_PREFIX } from "../../src/protocol";
import { BASE, devToken, newRoom, start, upgrade } from "./helpers";

describe("web client files", () => {
  it("serves the page, its script and styles with a strict content security policy", async () => {
    const page = await exports.default.fetch(new Request(`${BASE}/`));
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    expect(page.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect(page.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    const html = await page.text();
    expect(html).toContain('<script src="/app.js" defer></script>');
    expect(html).toContain('role="status" aria-live="polite"');
    const script = await exports.default.fetch(new Request(`${BASE}/app.js`));
    expect(script.headers.get("content-type")).toContain("javascript");
    expect((await script.text()).length).toBeGreaterThan(1000);
    expect((await exports.default.fetch(new Request(`${BASE}/app.css`))).headers.get("content-type")).toContain(
      "text/css",
    );
  });

  it("lets the page's own origin open signalling, other origins only when configured", async () => {
    const owner = await devToken("Olga");
    const room = await newRoom(owner);
    // Served under a host that ALLOWED_ORIGINS does not list (it lists only https://plenum.test here).
    const ownHost = "https://meet.example.org";
    const own = await exports.default.fetch(
      new Request(`${ownHost}/v1/rooms/${room.id}/signaling`, {
        headers: {
          upgrade: "websocket",
          origin: ownHost,
          "sec-websocket-protocol": `${SUBPROTOCOL}, ${TICKET_PREFIX}${(await start(owner, room.id)).ticket}`,
        },
      }),
    );
    expect(own.status).toBe(101);
    own.webSocket?.accept();
    own.webSocket?.close(1000);
    const foreign = await upgrade(room.id, (await start(owner, room.id)).ticket, { origin: "https://evil.example" });
    expect(foreign.response.status).toBe(403);
  });
});
