import { createRoute, type OpenAPIHonoOptions, type RouteConfig } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import type { ZodType } from "zod";
import type { AttemptLimiterObject, AttemptSlot } from "../../durable-objects/attempt-limiter";
import { authenticate } from "../auth/authenticate";
import { ErrorBodySchema, type ErrorCode, httpStatusOf, type Result, RoomParamsSchema } from "../protocol";
import { setBounded } from "../shared/bounded";
import type { Config } from "../shared/config";
import { errorResponse } from "../shared/http";
import { logFailure } from "../shared/log";
import { attemptLimiterOf } from "../shared/objects";
import type { Principal } from "../shared/principal";
import { attemptKey, clientAddress } from "../shared/region";

type Variables = { config: Config; principal: Principal };
export type AppEnv = { Bindings: Env; Variables: Variables };

/** Every route group's validation failures answer with the contract's `invalid_request` body. */
export const defaultHook: OpenAPIHonoOptions<AppEnv>["defaultHook"] = (result) => {
  if (!result.success) {
    const issue = result.error.issues[0];
    return errorResponse("invalid_request", `${issue?.path.join(".") || "body"}: ${issue?.message ?? "invalid"}`);
  }
};

export const json = <T extends ZodType>(schema: T) => ({ content: { "application/json": { schema } } });
export const jsonBody = <T extends ZodType>(schema: T) => ({ body: { ...json(schema), required: true } });
const errors = {
  400: { ...json(ErrorBodySchema), description: "Invalid request (`invalid_request`, `invalid_json`)" },
  401: { ...json(ErrorBodySchema), description: "Missing or invalid credentials" },
  403: { ...json(ErrorBodySchema), description: "Not allowed" },
  404: { ...json(ErrorBodySchema), description: "No such room (or another tenant's)" },
  409: { ...json(ErrorBodySchema), description: "Conflict" },
  413: { ...json(ErrorBodySchema), description: "Body too large" },
  429: { ...json(ErrorBodySchema), description: "Too many failed attempts from this address" },
  500: { ...json(ErrorBodySchema), description: "Internal error" },
  503: { ...json(ErrorBodySchema), description: "A needed service (e.g. SFU capacity) is unavailable" },
};
export const bearer = [{ bearer: [] }];
export const roomParams = { params: RoomParamsSchema };

/** A route whose documented responses include the contract's error bodies. */
export function route<R extends RouteConfig>(config: R) {
  return createRoute({ ...config, responses: { ...errors, ...config.responses } });
}

/** Answers with an RPC result: its value with the success status, or the contract's error body. */
export function respond<T extends object, S extends 200 | 201>(c: Context<AppEnv>, result: Result<T>, status: S) {
  if (result.ok) return c.json(result.value, status);
  const retry = result.error.code === "too_many_attempts" ? { "retry-after": "1" } : undefined;
  return c.json({ error: result.error }, httpStatusOf[result.error.code], retry);
}

export {
  roomIndexOf as roomIndex,
  roomOf as room,
  sfuPoolOf as sfuPool,
  turnFleetOf as fleet,
} from "../shared/objects";

/** Failed attempts that count against the client address. */
const GUESSING_ERRORS = new Set<ErrorCode>(["invalid_password", "invalid_invite", "invalid_ticket"]);

export const guessedWrong = <T>(result: Result<T>) => !result.ok && GUESSING_ERRORS.has(result.error.code);

/**
 * Addresses the limiter found not blocked, until when that answer is trusted (this isolate's memory): a join storm
 * from one address asks the limiter about once a second (the requests of a first burst all ask) instead of at every
 * start and upgrade. A failure or refusal seen here drops the entry (an answer already on its way may put it back,
 * trusted at most a second as well); another isolate's failures reach this one within UNBLOCKED_TRUST_MS, a delay
 * that matters nothing against 256-bit tickets: a guessable password or invite always takes a slot itself.
 */
const unblocked = new Map<string, number>();
const UNBLOCKED_TRUST_MS = 1000;

async function blockedFor(key: string, limiter: DurableObjectStub<AttemptLimiterObject>): Promise<number> {
  const now = Date.now();
  if ((unblocked.get(key) ?? 0) > now) return 0;
  const wait = await limiter.retryAfter();
  if (wait > 0) return wait;
  setBounded(unblocked, key, now + UNBLOCKED_TRUST_MS, 4096);
  return 0;
}

/**
 * Runs an attempt that can be guessed. With `hold` (a human-chosen password or an invite code is checked) it takes
 * one of the client address's slots first (429 while none is left) and gives it back unless it failed as a guess,
 * so parallel guesses cannot outrun the count. Without (a random 256-bit ticket, or nothing to guess) it only asks
 * whether the address is blocked, and only a failure counts: a join storm leaves no per-address state behind.
 */
export async function throttled<R>(
  c: Context<AppEnv>,
  attempt: () => Promise<R>,
  failed: (outcome: R) => boolean,
  hold: boolean,
) {
  const key = attemptKey(clientAddress(c.req.raw, c.var.config));
  const limiter = attemptLimiterOf(c.env, key);
  const slot: AttemptSlot = hold ? await limiter.reserve() : { retryAfter: await blockedFor(key, limiter) };
  if (slot.retryAfter) {
    unblocked.delete(key);
    const error = { code: "too_many_attempts" as const, message: "too many attempts; try again later" };
    return c.json({ error }, 429, { "retry-after": String(slot.retryAfter) });
  }
  let guessedWrongly = false;
  try {
    const outcome = await attempt();
    guessedWrongly = failed(outcome);
    return outcome;
  } finally {
    if (guessedWrongly) unblocked.delete(key);
    // The attempt's outcome stands even if the limiter cannot be told (its slot then lapses with the window).
    try {
      if (slot.window !== undefined) await limiter.release(slot.window, guessedWrongly);
      else if (guessedWrongly) await limiter.recordFailure();
    } catch (error) {
      logFailure("attempt limiter could not be updated", error, "warn");
    }
  }
}

const requireUser: MiddlewareHandler<AppEnv> = async (c, next) => {
  const principal = await authenticate(c.req.header("authorization"), c.env, c.var.config);
  if (!principal.ok)
    return errorResponse(principal.error.code, principal.error.message, { "www-authenticate": "Bearer" });
  c.set("principal", principal.value);
  await next();
  if (principal.value.operator) logOperatorAction(c, principal.value);
};

/** Every request made with operator rights leaves a line: who, what, which room, and how it ended. */
function logOperatorAction(c: Context<AppEnv>, principal: Principal): void {
  console.log(
    JSON.stringify({
      event: "operator_action",
      operator: principal.subject,
      action: `${c.req.method} ${routePath(c, -1)}`,
      room: c.req.param("id") ?? null,
      target: c.req.param("invite_id") ?? c.req.param("node_id") ?? c.req.param("secret_id") ?? null,
      status: c.res.status,
    }),
  );
}

const operatorOnly: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (!c.var.principal.operator) return errorResponse("insufficient_permissions", "operators only");
  await next();
};

/** Route fields of every endpoint that needs a bearer token. */
export const authenticated = { security: bearer, middleware: requireUser };
/** Route fields of every operator endpoint. */
export const operator = { security: bearer, middleware: [requireUser, operatorOnly] };
