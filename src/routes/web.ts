import { OpenAPIHono } from "@hono/zod-openapi";
import { HealthSchema } from "../protocol";
import type { Config } from "../shared/config";
import { WEB_ASSETS } from "../web-assets.generated";
import { type AppEnv, defaultHook, json, route } from "./common";

/** The web client (bundled at build time) and the liveness probe. */
export function webRoutes() {
  const app = new OpenAPIHono<AppEnv>({ defaultHook });

  // Camera and microphone need a secure context: localhost or HTTPS.
  for (const [path, asset] of Object.entries(WEB_ASSETS)) {
    app.get(
      path,
      (c) =>
        new Response(asset.body, {
          headers: {
            "content-type": asset.type,
            "cache-control": "no-cache",
            "x-content-type-options": "nosniff",
            "referrer-policy": "no-referrer",
            "content-security-policy":
              `default-src 'none'; script-src 'self'; style-src 'self'; connect-src ${connectSources(c.var.config)}; ` +
              "media-src 'self' blob: mediastream:; img-src 'self' data:; base-uri 'none'; form-action 'self'; " +
              "frame-ancestors 'none'",
            "permissions-policy": "camera=(self), microphone=(self), display-capture=(self)",
          },
        }),
    );
  }

  app.openapi(
    route({ method: "get", path: "/healthz", responses: { 200: { ...json(HealthSchema), description: "Alive" } } }),
    (c) => c.json({ status: "ok" as const, shard: c.var.config.PLENUM_SHARD ?? null }, 200),
  );

  return app;
}

/** The page may call its own API and the token endpoints of issuers with browser sign-in. */
function connectSources(config: Config): string {
  const tokenOrigins = config.OIDC_ISSUERS.flatMap((i) => (i.login ? [new URL(i.login.token_endpoint).origin] : []));
  return ["'self'", ...new Set(tokenOrigins)].join(" ");
}
