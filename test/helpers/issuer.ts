import { createServer } from "node:http";
import { exportJWK, generateKeyPair, type JWTPayload, SignJWT } from "jose";

/**
 * An OIDC-style issuer for tests: a real ES256 key pair whose public half an HTTP server on loopback publishes at
 * `jwksUri`; `sign` makes access tokens with it (claims as given, issued now).
 */
export async function startTestIssuer(issuer: string) {
  const { publicKey, privateKey } = await generateKeyPair("ES256");
  const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256", use: "sig" };
  const server = createServer((request, response) => {
    response.writeHead(request.url === "/jwks" ? 200 : 404, { "content-type": "application/json" });
    response.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return {
    jwksUri: `http://127.0.0.1:${port}/jwks`,
    /** The entry of OIDC_ISSUERS that trusts this issuer. */
    config: (audience = "plenum") => ({
      issuer,
      audience,
      jwks_uri: `http://127.0.0.1:${port}/jwks`,
      algorithms: ["ES256"],
    }),
    sign: (claims: JWTPayload) =>
      new SignJWT({ iss: issuer, ...claims })
        .setProtectedHeader({ alg: "ES256", kid: "k1" })
        .setIssuedAt()
        .sign(privateKey),
    close: () => server.close(),
  };
}
