import { OpenAPIHono } from "@hono/zod-openapi";
import { AuthOptionsSchema, DevLoginRequestSchema, DevLoginResponseSchema } from "../protocol";
import { DEV_AUDIENCE, signingKey } from "../shared/keys";
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

  return app;
}
