import { OpenAPIHono } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import type { ErrorCode } from "./protocol";
import { authRoutes } from "./routes/auth";
import { type AppEnv, defaultHook } from "./routes/common";
import { operatorRoutes } from "./routes/operator";
import { roomRoutes } from "./routes/rooms";
import { signalingRoutes } from "./routes/signaling";
import { turnRoutes } from "./routes/turn";
import { webRoutes } from "./routes/web";
import { type Config, readConfig } from "./shared/config";
import { errorResponse } from "./shared/http";

export function createApp() {
  const app = new OpenAPIHono<AppEnv>({ defaultHook });

  // Registered before the groups are mounted: Hono runs middleware and routes in the order they were added.
  app.use("*", async (c, next) => {
    c.set("config", readConfig(c.env));
    await next();
  });
  // One limiter per configuration (an isolate has one), not one per request; a GET or HEAD carries no body.
  const limits = new WeakMap<Config, MiddlewareHandler>();
  app.use("/v1/*", (c, next) => {
    if (c.req.method === "GET" || c.req.method === "HEAD") return next();
    const { config } = c.var;
    let limit = limits.get(config);
    if (!limit) {
      limit = bodyLimit({
        maxSize: config.MAX_BODY_BYTES,
        onError: () => errorResponse("payload_too_large", `bodies are at most ${config.MAX_BODY_BYTES} bytes`),
      });
      limits.set(config, limit);
    }
    return limit(c, next);
  });

  // Mounting copies a group's routes and OpenAPI definitions into this app, so each group is complete here.
  app.route("/", webRoutes());
  app.route("/", authRoutes());
  app.route("/", roomRoutes());
  app.route("/", signalingRoutes());
  app.route("/", turnRoutes());
  app.route("/", operatorRoutes());

  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", {
    type: "http",
    scheme: "bearer",
    bearerFormat: "JWT",
  });
  app.doc31("/v1/openapi.json", {
    openapi: "3.1.0",
    info: { title: "Plenum signalling API", version: "1" },
  });

  app.notFound(() => errorResponse("not_found", "no such route"));
  app.onError((error) => {
    if (error instanceof HTTPException) {
      // Hono's validators throw 400 for bodies that are not JSON.
      const code: ErrorCode =
        error.status === 400 ? "invalid_json" : error.status === 413 ? "payload_too_large" : "invalid_request";
      return errorResponse(code, error.message);
    }
    console.error("unhandled error:", error instanceof Error ? error.message : "unknown");
    return errorResponse("internal_error", "internal error");
  });
  return app;
}
