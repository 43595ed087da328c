import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import worker from "../../src/index";
import { ErrorBodySchema, type ErrorCode, httpStatusOf } from "../../src/protocol";
import { readConfig } from "../../src/shared/config";
import { api, BASE, devToken, newRoom, setting } from "../workers/helpers";
import { extraKey, hugeToken, nested, oddText, raw, rawTokens, withKey, wrongValue } from "./frame-arbitraries";
import { hasType, type JsonSchema, type OpenApiDocument, type Operation, resolve, valueFor } from "./schema-arbitrary";

/**
 * Property-based fuzzing of every REST route the app's OpenAPI document lists (new routes are covered as they are
 * documented): invalid JSON, other JSON than an object, wrong types, extra and missing keys, oversized bodies,
 * deep nesting, huge numbers and odd Unicode, plausible bodies too, with malformed and real path ids, and with
 * no, broken, user and operator credentials. Never a 5xx; every error is the contract's body with a known code
 * and that code's status; a 2xx only for a documented status, a body that could be valid and credentials that
 * may do it.
 *
 * Requests go to the worker module's own fetch (the module instance the runtime serves, with the tier's bindings):
 * in @cloudflare/vitest-pool-workers 0.15.1 every `exports.default.fetch` of a test costs more than the one before
 * (measured: 5 ms per /healthz for the first hundred, 43 ms for the third), so thousands would take many minutes.
 */

const config = readConfig(env as unknown as Record<string, unknown>);
const SEED = Number.parseInt(setting("FUZZ_SEED") || "20260702", 10);
const REQUESTS = Number.parseInt(setting("FUZZ_REQUESTS") || "3000", 10);
const PARALLEL = 4;

interface Route {
  method: string;
  path: string;
  operation: Operation;
  params: string[];
  body: JsonSchema | undefined;
  bodyRequired: boolean;
  secured: boolean;
}

/** Routes that need operator rights: the operator group and the room diagnostics (src/routes/operator.ts). */
const operatorOnly = (route: Route) => route.path.startsWith("/v1/operator/") || route.path.endsWith("/diagnostics");

type Auth = "none" | "broken" | "owner" | "other" | "stranger" | "operator";

/** A generated request; `invalid` when its body certainly breaks the route's schema. */
interface Spec {
  route: number;
  auth: Auth;
  broken: string;
  params: Record<string, { kind: "real" | "unknown" | "malformed"; value: string }>;
  body: { text: string | undefined; contentType: string | undefined; invalid: boolean; kind: string } | undefined;
  address: number;
  upgrade: { protocols: string; origin: string | undefined } | undefined;
}

function routesOf(doc: OpenApiDocument): Route[] {
  return Object.entries(doc.paths).flatMap(([path, operations]) =>
    Object.entries(operations).map(([method, operation]) => {
      const schema = operation.requestBody?.content?.["application/json"]?.schema;
      return {
        method: method.toUpperCase(),
        path,
        operation,
        params: (operation.parameters ?? []).filter((p) => p.in === "path").map((p) => p.name),
        body: schema && resolve(schema, doc),
        bodyRequired: operation.requestBody?.required === true,
        secured: (operation.security?.length ?? 0) > 0,
      };
    }),
  );
}

const MALFORMED_IDS = [
  ...["", "short", "x".repeat(65), "..", ".", "%", "%zz", "%ff", "%e0%a4%a", "%ed%a0%80", "a b", "a/b", "%00", "é"],
  ...["%2e%2e", "%2F", "id?x=1", "id#x", "room;x", "__proto__", "constructor"],
];

/** Percent-encodes every byte of the text's UTF-8 (lone surrogates become U+FFFD) but unreserved characters. */
const encoded = (text: string) =>
  [...new TextEncoder().encode(text)]
    .map((b) => (/[A-Za-z0-9_.~-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16)}`))
    .join("");

/**
 * Well-formed ids of nothing. Few and fixed: each id names an object the runtime creates on first use, and in this
 * tier every further object makes every request slower (hundreds of them: seconds per request).
 */
const UNKNOWN_IDS = ["unknownId0001", "unknownId0002-_", "x".repeat(64)];
const UNKNOWN_NODES = ["unknown-node", "0"];

/** A path parameter: a real id (when there is one), a well-formed unknown one, or a malformed one. */
const paramValue = (name: string) =>
  fc.oneof(
    { weight: 3, arbitrary: fc.constant({ kind: "real" as const, value: "" }) },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom(...(name === "node_id" ? UNKNOWN_NODES : UNKNOWN_IDS))
        .map((value) => ({ kind: "unknown" as const, value })),
    },
    {
      weight: 2,
      arbitrary: fc
        .oneof(fc.constantFrom(...MALFORMED_IDS), oddText.map(encoded), fc.string().map(encoded))
        .map((value) => ({ kind: "malformed" as const, value })),
    },
  );

/** Bodies for a route: plausible ones and every kind of broken one. */
function bodyOf(route: Route, doc: OpenApiDocument, maxBody: number): fc.Arbitrary<Spec["body"]> {
  const json = "application/json";
  const contentType = fc.oneof(
    { weight: 8, arbitrary: fc.constant(json) },
    {
      weight: 1,
      arbitrary: fc.constantFrom<string | undefined>(
        undefined,
        "text/plain",
        "application/json; charset=utf-8",
        "APPLICATION/JSON",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/json-patch+json",
      ),
    },
  );
  /** Bodies of one kind; `invalid` (or each value's own flag) when they certainly break the schema. */
  const make = (kind: string, texts: fc.Arbitrary<string | [string, boolean]>, invalid = false) =>
    fc.tuple(texts, contentType).map(([value, type]) => {
      const [text, broken] = typeof value === "string" ? [value, invalid] : value;
      // Another content type may be refused or taken as no body: either is right.
      return { text: rawTokens(text), contentType: type, invalid: broken && type === json, kind };
    });
  const schema = route.body;
  if (!schema) {
    // Routes without a body (POST actions, DELETE): a stray body must not matter.
    if (route.method === "GET" || route.method === "HEAD") return fc.constant(undefined);
    return fc.option(make("stray", fc.oneof(fc.constant("{}"), fc.json(), oddText), false), { nil: undefined });
  }
  const properties = schema.properties ?? {};
  const fields = Object.keys(properties);
  const strict = schema.additionalProperties === false;
  const plausible = valueFor(schema, doc) as fc.Arbitrary<Record<string, unknown>>;
  const field = fc.nat().map((n) => (fields.length > 0 ? fields[n % fields.length] : undefined));
  return fc.oneof(
    make(
      "plausible",
      plausible.map((b) => JSON.stringify(b)),
    ),
    make(
      "not JSON",
      fc.oneof(
        fc.constantFrom("{", "{'a':1}", "[1,", "nul", '{"a":}', "\ufeff", "\u0000", "{}}", '{"a":1,}'),
        fc.string({ unit: "binary", minLength: 1, maxLength: 50 }).filter((t) => !isJson(t)),
      ),
      true,
    ),
    make("empty", fc.constant(""), route.bodyRequired),
    make("not an object", fc.constantFrom("null", "1", '"x"', "[]", "true", "[{}]", "1e400"), true),
    make(
      "wrong type",
      fc.tuple(plausible, field, wrongValue).map(([body, name, value]): [string, boolean] => {
        if (name === undefined) return [JSON.stringify(body), false];
        const wrong = wrongFor(properties[name]!, value);
        return [JSON.stringify({ ...body, [name]: wrong }), wrong !== undefined];
      }),
    ),
    make(
      "extra key",
      fc.tuple(plausible, extraKey, wrongValue).map(([body, key, value]) => {
        const name = key === "" || Object.hasOwn(properties, key) ? `${key}_extra` : key;
        return JSON.stringify(withKey(body, name, value));
      }),
      strict,
    ),
    make(
      "missing required",
      plausible.map((body) => {
        const copy = { ...body };
        for (const name of schema.required ?? []) delete copy[name];
        return JSON.stringify(copy);
      }),
      (schema.required?.length ?? 0) > 0,
    ),
    make(
      "oversized",
      fc
        .tuple(plausible, fc.integer({ min: maxBody + 1, max: 3 * maxBody }), fc.boolean())
        .map(([body, size, pad]) =>
          pad ? JSON.stringify(body).padEnd(size, " ") : JSON.stringify({ ...body, padding: "p".repeat(size) }),
        ),
      true,
    ),
    make(
      "deep nesting",
      fc.tuple(plausible, field, nested).map(([body, name, deep]): [string, boolean] => {
        if (name === undefined) return [deep, strict || deep.startsWith("[")];
        const takes = hasType([], properties[name]!) || hasType({}, properties[name]!);
        return [JSON.stringify({ ...body, [name]: raw(deep) }), !takes];
      }),
    ),
    make(
      "huge numbers",
      fc
        .tuple(plausible, field, hugeToken)
        .map(([body, name, token]) => JSON.stringify(name === undefined ? body : { ...body, [name]: raw(token) })),
    ),
    make(
      "odd unicode",
      fc
        .tuple(plausible, field, oddText)
        .map(([body, name, odd]) => JSON.stringify(name === undefined ? body : { ...body, [name]: odd })),
    ),
  );
}

/** A value of a type the field does not take (raw tokens count as the numbers they are); undefined if none is. */
function wrongFor(schema: JsonSchema, value: unknown): unknown {
  const parsed = JSON.parse(rawTokens(JSON.stringify(value)));
  for (const candidate of [value, [value], { value }, true, null, 0.5, "x"]) {
    const as = candidate === value ? parsed : candidate;
    if (!hasType(as, schema)) return candidate;
  }
  return undefined;
}

/**
 * Whether a body is JSON as the Fetch standard reads it (`Request.json()` decodes UTF-8 and drops a leading byte
 * order mark, which RFC 8259 lets parsers ignore).
 */
function isJson(text: string): boolean {
  try {
    JSON.parse(text.replace(/^\ufeff/, ""));
    return true;
  } catch {
    return false;
  }
}

const PROTOCOLS = [
  "plenum-signaling-v1",
  "plenum-signaling-v1, ticket#x",
  "ticket#aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
  "plenum-signaling-v2",
  "plenum-signaling-v1, ticket#",
  `plenum-signaling-v1, ticket#${"t".repeat(4000)}`,
  "plenum-signaling-v1,,,,ticket#%00",
  "",
];

const BROKEN = [
  "Bearer",
  "Bearer ",
  "Bearer x",
  "Basic dXNlcjpwYXNz",
  `Bearer ${"a".repeat(5000)}`,
  "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4IiwiaXNzIjoidXJuOnBsZW51bTpkZXYtaXNzdWVyIn0.",
  "Bearer a.b.c",
  "Token abc",
];

class Pool {
  rooms: string[] = [];
  invites = new Map<string, string[]>();
  constructor(private readonly owner: string) {}

  async addRoom(index: number, body: Record<string, unknown>): Promise<void> {
    const room = await newRoom(this.owner, body);
    this.rooms[index] = room.id;
    const invite = await api("POST", `/v1/rooms/${room.id}/invites`, { token: this.owner, body: {} });
    this.invites.set(room.id, [String(invite.body.id)]);
  }
}

describe("REST fuzz", () => {
  it(`answers ${REQUESTS} generated requests to every documented route with 4xx bodies, never 5xx`, async () => {
    const documented = await api<OpenApiDocument>("GET", "/v1/openapi.json");
    expect(documented.status).toBe(200);
    const doc = documented.body;
    const routes = routesOf(doc);
    expect(routes.length).toBeGreaterThan(20);

    const tokens = {
      owner: await devToken("Rest Owner"),
      other: await devToken("Rest Other"),
      stranger: await devToken("Rest Stranger", "land-z"),
      operator: setting("OPERATOR_TOKEN"),
    };
    const pool = new Pool(tokens.owner);
    const ROOM_BODIES = [{}, { password: "geheim" }, { waiting_room: "guests" }, { name: "Fuzz" }];
    for (const [i, body] of ROOM_BODIES.entries()) await pool.addRoom(i, body);
    const secrets: string[] = [];
    const nodes: string[] = [];

    const real = (name: string, roomIndex: number): string | undefined => {
      const room = pool.rooms[roomIndex % pool.rooms.length];
      if (name === "id") return room;
      if (name === "invite_id") return room ? pool.invites.get(room)?.[0] : undefined;
      if (name === "secret_id") return secrets[roomIndex % Math.max(1, secrets.length)];
      if (name === "node_id") return nodes[roomIndex % Math.max(1, nodes.length)];
      return undefined;
    };

    const specs = fc.sample(
      fc.nat({ max: routes.length - 1 }).chain((index) => {
        const route = routes[index]!;
        const params = Object.fromEntries(route.params.map((name) => [name, paramValue(name)]));
        const signaling = route.path.endsWith("/signaling");
        return fc.record({
          route: fc.constant(index),
          auth: fc.constantFrom<Auth>("none", "broken", "owner", "owner", "other", "stranger", "operator"),
          broken: fc.constantFrom(...BROKEN),
          params: fc.record(params),
          body: bodyOf(route, doc, config.MAX_BODY_BYTES),
          address: fc.nat({ max: 40 }),
          upgrade: signaling
            ? fc.option(
                fc.record({
                  // ASCII only: workerd warns on the console about every non-ASCII header value.
                  protocols: fc.oneof(
                    fc.constantFrom(...PROTOCOLS),
                    fc.string({ unit: "binary-ascii", maxLength: 60 }).filter((t) => !/[\r\n\0]/.test(t)),
                  ),
                  origin: fc.constantFrom(undefined, "https://plenum.test", "https://evil.example", "null"),
                }),
                { nil: undefined },
              )
            : fc.constant(undefined),
        }) as fc.Arbitrary<Spec>;
      }),
      { seed: SEED, numRuns: REQUESTS },
    );

    const findings = new Map<string, { count: number; examples: string[] }>();
    const find = (kind: string, example: string) => {
      const entry = findings.get(kind) ?? { count: 0, examples: [] };
      entry.count++;
      if (entry.examples.length < 3) entry.examples.push(example.slice(0, 600));
      findings.set(kind, entry);
    };
    const statuses = new Map<string, number>();
    const byKind = new Map<string, number>();

    const run = async (spec: Spec, n: number) => {
      const route = routes[spec.route]!;
      let path = route.path;
      for (const name of route.params) {
        const choice = spec.params[name]!;
        const unknown = name === "node_id" ? UNKNOWN_NODES[0]! : UNKNOWN_IDS[0]!;
        const value = choice.kind === "real" ? (real(name, n) ?? unknown) : choice.value;
        path = path.replace(`{${name}}`, value);
      }
      const headers: Record<string, string> = { "x-test-client": `rest-fuzz-${spec.address}` };
      if (spec.auth === "broken") headers.authorization = spec.broken;
      else if (spec.auth !== "none") headers.authorization = `Bearer ${tokens[spec.auth]}`;
      if (spec.body?.contentType) headers["content-type"] = spec.body.contentType;
      if (spec.upgrade) {
        headers.upgrade = "websocket";
        headers["sec-websocket-protocol"] = spec.upgrade.protocols;
        if (spec.upgrade.origin) headers.origin = spec.upgrade.origin;
      }
      let request: Request;
      try {
        request = new Request(`${BASE}${path}`, { method: route.method, headers, body: spec.body?.text });
      } catch {
        // A header value fetch itself refuses (e.g. a line break in a generated subprotocol): nothing to send.
        statuses.set("not sendable", (statuses.get("not sendable") ?? 0) + 1);
        return;
      }
      const context = createExecutionContext();
      const response = await worker.fetch(request, env, context);
      await waitOnExecutionContext(context);
      const text = await response.text();
      const what = `${route.method} ${path.slice(0, 120)} auth=${spec.auth} body=${spec.body?.kind ?? "-"}`;
      const sent = JSON.stringify(spec.body?.text?.slice(0, 160));
      const example = `${what} ${sent} → ${response.status} ${text.slice(0, 200)}`;
      const key = `${route.method} ${route.path} ${response.status}`;
      statuses.set(key, (statuses.get(key) ?? 0) + 1);
      const kind = `${spec.body?.kind ?? "no body"} ${Math.floor(response.status / 100)}xx`;
      byKind.set(kind, (byKind.get(kind) ?? 0) + 1);
      response.webSocket?.close();
      if (response.status >= 500) return find("5xx", example);
      if (response.status >= 400) {
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          return find("error body is not JSON", example);
        }
        const error = ErrorBodySchema.safeParse(body);
        if (!error.success) return find("error body outside the contract", example);
        const code = error.data.error.code as ErrorCode;
        if (httpStatusOf[code] !== response.status) find(`status ${response.status} for code ${code}`, example);
        return;
      }
      if (response.status < 200 || response.status >= 300) return find(`status ${response.status}`, example);
      if (!Object.hasOwn(route.operation.responses, String(response.status))) find("undocumented 2xx", example);
      if (spec.body?.invalid) find(`accepted an invalid body (${spec.body.kind})`, example);
      if (route.secured && (spec.auth === "none" || spec.auth === "broken")) find("2xx without credentials", example);
      if (operatorOnly(route) && spec.auth !== "operator") find("operator route without operator rights", example);
      // Keep the real ids real: what a request deleted is made again, what it created may be used.
      await keepPool(route, path, response.status, text);
    };

    const keepPool = async (route: Route, path: string, status: number, text: string) => {
      if (route.method === "DELETE" && route.path === "/v1/rooms/{id}" && status === 204) {
        const index = pool.rooms.findIndex((id) => path.endsWith(`/${id}`));
        if (index >= 0) await pool.addRoom(index, ROOM_BODIES[index]!);
      }
      if (route.method === "DELETE" && route.path === "/v1/rooms/{id}/invites/{invite_id}" && status === 204) {
        const room = pool.rooms.find((id) => path.includes(`/${id}/`));
        if (room) {
          const invite = await api("POST", `/v1/rooms/${room}/invites`, { token: tokens.owner, body: {} });
          pool.invites.set(room, [String(invite.body.id)]);
        }
      }
      if (route.method === "POST" && route.path === "/v1/operator/turn/secrets" && status === 201) {
        secrets.push(String(JSON.parse(text).id));
      }
      if (route.method === "POST" && route.path === "/v1/operator/sfu/nodes" && status === 201) {
        // Its URLs point at a closed loopback port; the node is removed again at the end (or by a fuzzed DELETE).
        nodes.push(String(JSON.parse(text).id));
      }
    };

    // Requests with operator rights log one line each (src/routes/common.ts): kept and checked, not printed.
    const operatorLines: string[] = [];
    const log = console.log;
    console.log = (...args: unknown[]) => {
      const line = args.map(String).join(" ");
      if (line.startsWith('{"event":"operator_action"')) operatorLines.push(line);
      else log(...args);
    };
    const started = Date.now();
    try {
      for (let i = 0; i < specs.length; i += PARALLEL) {
        await Promise.all(specs.slice(i, i + PARALLEL).map((spec, j) => run(spec, i + j)));
      }
    } finally {
      console.log = log;
    }
    const seconds = (Date.now() - started) / 1000;
    for (const line of operatorLines) {
      const entry = JSON.parse(line) as { operator?: unknown; action?: unknown; status?: unknown };
      const fine = entry.operator === "operator-token" && typeof entry.action === "string";
      if (!fine || typeof entry.status !== "number" || entry.status >= 500) find("operator log line", line);
    }

    for (const id of nodes) {
      await api("DELETE", `/v1/operator/sfu/nodes/${id}`, { headers: { authorization: `Bearer ${tokens.operator}` } });
    }
    // Afterwards the API still works for a well-behaved user.
    const room = await newRoom(tokens.owner, { name: "after the fuzz" });
    expect((await api("GET", `/v1/rooms/${room.id}`, { token: tokens.owner })).body.name).toBe("after the fuzz");

    const byStatus = new Map<string, number>();
    for (const [key, n] of statuses) {
      const status = key.split(" ").at(-1)!;
      byStatus.set(status, (byStatus.get(status) ?? 0) + n);
    }
    console.log(
      `fuzz REST: seed ${SEED}; ${specs.length} requests to ${routes.length} routes in ${seconds.toFixed(1)} s ` +
        `= ${Math.round(specs.length / seconds)} requests/s (${operatorLines.length} operator log lines)\n` +
        `  statuses: ${JSON.stringify(Object.fromEntries(byStatus))}\n` +
        `  bodies: ${JSON.stringify(Object.fromEntries([...byKind].sort()))}`,
    );
    const summary = Object.fromEntries(
      [...findings].map(([kind, { count, examples }]) => [kind, `${count}× e.g. ${examples.join(" | ")}`]),
    );
    expect(summary).toEqual({});
  });
});
