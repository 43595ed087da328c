import { createHash, randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningServer, startServer } from "../../scripts/local-server";
import { launchChromium } from "./browser";

/**
 * An OIDC-style identity provider for the browser sign-in: authorization endpoint (approves at once, as after a
 * login form), token endpoint that checks the PKCE verifier against the challenge, and a JWKS with a real key.
 */
async function identityProvider() {
  const { publicKey, privateKey } = await generateKeyPair("RS256");
  const jwk = { ...(await exportJWK(publicKey)), kid: "idp-key", alg: "RS256", use: "sig" };
  const codes = new Map<string, { challenge: string; redirectUri: string; clientId: string }>();
  const exchanges: { verifierOk: boolean }[] = [];
  let issuer = "";
  const sign = (claims: Record<string, unknown>) =>
    new SignJWT({ name: "Sachbearbeiterin Schulz", org: "thueringen", ...claims })
      .setProtectedHeader({ alg: "RS256", kid: "idp-key" })
      .setIssuer(issuer)
      .setSubject("user-4711")
      .setIssuedAt()
      .setExpirationTime("5m")
      .sign(privateKey);
  const server: Server = createServer(async (request, response) => {
    const url = new URL(request.url ?? "/", issuer);
    if (url.pathname === "/jwks") return response.end(JSON.stringify({ keys: [jwk] }));
    if (url.pathname === "/authorize") {
      const code = randomBytes(16).toString("hex");
      codes.set(code, {
        challenge: url.searchParams.get("code_challenge") ?? "",
        redirectUri: url.searchParams.get("redirect_uri") ?? "",
        clientId: url.searchParams.get("client_id") ?? "",
      });
      const back = new URL(url.searchParams.get("redirect_uri")!);
      back.searchParams.set("code", code);
      back.searchParams.set("state", url.searchParams.get("state") ?? "");
      response.writeHead(302, { location: back.toString() });
      return response.end();
    }
    if (url.pathname === "/token" && request.method === "POST") {
      let body = "";
      for await (const chunk of request) body += chunk;
      const form = new URLSearchParams(body);
      const grant = codes.get(form.get("code") ?? "");
      codes.delete(form.get("code") ?? "");
      const verifierOk =
        grant !== undefined &&
        createHash("sha256")
          .update(form.get("code_verifier") ?? "")
          .digest("base64url") === grant.challenge;
      exchanges.push({ verifierOk });
      const headers = { "access-control-allow-origin": "*", "content-type": "application/json" };
      if (
        !grant ||
        !verifierOk ||
        form.get("redirect_uri") !== grant.redirectUri ||
        form.get("client_id") !== grant.clientId
      ) {
        response.writeHead(400, headers);
        return response.end(JSON.stringify({ error: "invalid_grant" }));
      }
      response.writeHead(200, headers);
      return response.end(
        JSON.stringify({
          access_token: await sign({ aud: "plenum" }),
          id_token: await sign({ aud: grant.clientId }),
          token_type: "Bearer",
        }),
      );
    }
    response.writeHead(404);
    response.end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  issuer = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
  return { issuer, exchanges, close: () => server.close() };
}

describe("web client sign-in through an identity provider (authorization code + PKCE)", () => {
  let idp: Awaited<ReturnType<typeof identityProvider>>;
  let server: RunningServer;

  beforeAll(async () => {
    idp = await identityProvider();
    server = await startServer({
      env: {
        DEV_LOGIN: "disabled",
        OIDC_ISSUERS: JSON.stringify([
          {
            issuer: idp.issuer,
            audience: "plenum",
            jwks_uri: `${idp.issuer}/jwks`,
            algorithms: ["RS256"],
            tenant_claim: "org",
            login: {
              label: "Landesportal",
              client_id: "plenum-web",
              authorization_endpoint: `${idp.issuer}/authorize`,
              token_endpoint: `${idp.issuer}/token`,
            },
          },
        ]),
      },
    });
  });

  afterAll(async () => {
    await server?.stop();
    idp?.close();
  });

  it("signs in with the provider, returns to the room link it started from, offers no development login", async () => {
    const browser = await launchChromium();
    try {
      const page = await (await browser.newContext({ locale: "de-DE" })).newPage();
      await page.goto(server.base);
      expect(await page.locator("#name").count()).toBe(0); // development login is off
      await page.click("text=Anmelden mit Landesportal");
      await page.waitForSelector("#room-name");
      expect(await page.textContent("main")).toContain("Angemeldet als Sachbearbeiterin Schulz");
      expect(idp.exchanges).toEqual([{ verifierOk: true }]);
      // The token works against the API: a room is created in the provider's tenant.
      await page.fill("#room-name", "Haushaltsausschuss");
      await page.click("form button[type=submit]");
      const roomLink = await page.inputValue("#room-link");

      // Someone else opens the room link first: sign-in, then straight back to that room.
      const other = await (await browser.newContext({ locale: "de-DE" })).newPage();
      await other.goto(roomLink);
      await other.click("text=Anmelden mit Landesportal");
      await other.waitForSelector("#connection >> text=Verbunden");
      expect(other.url()).toBe(roomLink);
      expect(await other.textContent("#room-title")).toBe("Haushaltsausschuss");
    } finally {
      await browser.close();
    }
  });
});
