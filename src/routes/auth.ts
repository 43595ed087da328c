import { OpenAPIHono } from "@hono/zod-openapi";
import {
  AuthOptionsSchema,
  type DevIssuerKeySet,
  DevIssuerKeySetSchema,
  type DevLoginRequest,
  DevLoginRequestSchema,
  type DevLoginResponse,
  DevLoginResponseSchema,
} from "../protocol";
import { DEV_AUDIENCE, signingKey } from "../shared/keys";
import { devLoginShard, type Shard } from "../shared/shards";
import { type AppEnv, defaultHook, json, jsonBody, route } from "./common";

/** How people sign in: the issuers offered to the web client and the development login. */
export function authRoutes() {
  const app = new OpenAPIHono<AppEnv>({ defaultHook });

  app.openapi(
    route({
      method: "get",
      path: "/v1/auth/options",
      summary: "How the web client can sign people in",
      responses: { 200: { ...json(AuthOptionsSchema), description: "Development login and browser sign-in issuers" } },
    }),
    (c) => {
      const config = c.var.config;
      const oidc = config.OIDC_ISSUERS.flatMap((i) => (i.login ? [{ issuer: i.issuer, ...i.login }] : []));
      return c.json({ dev_login: config.DEV_LOGIN === "enabled", oidc }, 200);
    },
  );

  app.openapi(
    route({
      method: "post",
      path: "/v1/auth/dev-login",
      summary: "Development login (only when DEV_LOGIN=enabled)",
      request: jsonBody(DevLoginRequestSchema),
      responses: { 200: { ...json(DevLoginResponseSchema), description: "Access token of the development issuer" } },
    }),
    async (c) => {
      const config = c.var.config;
      if (config.DEV_LOGIN !== "enabled") {
        return c.json(
          { error: { code: "dev_login_disabled" as const, message: "development login is disabled" } },
          404,
        );
      }
      const { name, tenant } = c.req.valid("json");
      const signer = devLoginShard(config);
      if (signer) return c.json(await devLoginAt(signer, { name, tenant }), 200);
      const token = await signingKey(c.env, "dev-issuer").sign({
        issuer: config.DEV_ISSUER_URL,
        audience: DEV_AUDIENCE,
        // The same name is the same user: a second login with it is a second device.
        subject: `dev:${name.toLowerCase()}`,
        claims: { name, tenant: tenant ?? "default" },
        ttlSeconds: config.DEV_TOKEN_TTL_SECONDS,
      });
      return c.json(
        { access_token: token, token_type: "Bearer" as const, expires_in: config.DEV_TOKEN_TTL_SECONDS },
        200,
      );
    },
  );

  app.openapi(
    route({
      method: "get",
      path: "/v1/auth/dev-issuer/jwks",
      summary: "The development issuer's public keys (only when DEV_LOGIN=enabled), for the other shards of a fleet",
      responses: { 200: { ...json(DevIssuerKeySetSchema), description: "JWKS" } },
    }),
    async (c) => {
      if (c.var.config.DEV_LOGIN !== "enabled") {
        return c.json(
          { error: { code: "dev_login_disabled" as const, message: "development login is disabled" } },
          404,
        );
      }
      return c.json((await signingKey(c.env, "dev-issuer").jwks()) as DevIssuerKeySet, 200);
    },
  );

  return app;
}

/** A development login at the fleet's signing shard (see `devLoginShard`); its failure is this request's. */
async function devLoginAt(shard: Shard, body: DevLoginRequest): Promise<DevLoginResponse> {
  const response = await fetch(`${shard.url}/v1/auth/dev-login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(5000),
  });
  if (!response.ok) throw new Error(`development login at shard ${shard.id}: status ${response.status}`);
  return DevLoginResponseSchema.parse(await response.json());
}
