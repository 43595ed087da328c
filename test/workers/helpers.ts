import { env, exports } from "cloudflare:workers";
import { importJWK, type JWK, SignJWT } from "jose";
import { type Room, type StartResponse, SUBPROTOCOL, TICKET_PREFIX } from "../../src/protocol";
import { FrameCollector, type SocketLike } from "../helpers/collector";
import { type ApiResult, apiRequest, type RequestOptions, readResult } from "../helpers/request";

export const BASE = "https://plenum.test";
export const setting = (name: string) => env[name] as string;

/** Calls the worker's REST API in-process (the same Hono app workerd serves). */
export async function api<T = any>(method: string, path: string, options: RequestOptions = {}): Promise<ApiResult<T>> {
  return readResult<T>(await exports.default.fetch(apiRequest(BASE, method, path, options)));
}

export async function devToken(name: string, tenant?: string): Promise<string> {
  const result = await api("POST", "/v1/auth/dev-login", { body: { name, tenant } });
  if (result.status !== 200) throw new Error(`dev-login ${result.status}`);
  return result.body.access_token;
}

/** A token of the configured test OIDC issuer, signed with its real private key; `claims` override defaults. */
export async function oidcToken(
  claims: Record<string, unknown> = {},
  header: Record<string, unknown> = {},
): Promise<string> {
  const key = await importJWK(JSON.parse(setting("TEST_PRIVATE_JWK")) as JWK, "RS256");
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    iss: setting("TEST_ISSUER"),
    aud: "plenum",
    sub: "user-1",
    org: "land-a",
    name: "Clerk",
    iat: now,
    exp: now + 300,
    ...claims,
  })
    .setProtectedHeader({ alg: "RS256", kid: "test-key", ...header })
    .sign(key);
}

export async function newRoom(token: string, body: Record<string, unknown> = {}): Promise<Room> {
  const result = await api<Room>("POST", "/v1/rooms", { token, body });
  if (result.status !== 201) throw new Error(`create room ${result.status} ${JSON.stringify(result.body)}`);
  return result.body;
}

export async function start(token: string, roomId: string, body: Record<string, unknown> = {}): Promise<StartResponse> {
  const result = await api<StartResponse>("POST", `/v1/rooms/${roomId}/start`, { token, body });
  if (result.status !== 200) throw new Error(`start ${result.status} ${JSON.stringify(result.body)}`);
  return result.body;
}

/** Attempts the signalling upgrade; returns the refused response or an accepted socket's collector. */
export async function upgrade(
  roomId: string,
  ticket: string | undefined,
  options: { origin?: string; protocols?: string; address?: string } = {},
): Promise<{ response: Response; client?: FrameCollector }> {
  const headers: Record<string, string> = {
    upgrade: "websocket",
    "sec-websocket-protocol": options.protocols ?? `${SUBPROTOCOL}, ${TICKET_PREFIX}${ticket}`,
  };
  if (options.origin) headers.origin = options.origin;
  if (options.address) headers["x-test-client"] = options.address;
  const response = await exports.default.fetch(new Request(`${BASE}/v1/rooms/${roomId}/signaling`, { headers }));
  const socket = response.webSocket;
  if (!socket) return { response };
  socket.accept();
  return { response, client: new FrameCollector(socket as unknown as SocketLike) };
}

/** Starts and connects a registered user; resolves once join_success arrived. */
export async function join(token: string, roomId: string, body: Record<string, unknown> = {}) {
  const started = await start(token, roomId, body);
  const { client } = await upgrade(roomId, started.ticket);
  if (!client) throw new Error("upgrade refused");
  const joined = await client.message("control", "join_success");
  return { client, started, joined: joined.payload as Record<string, any> };
}
