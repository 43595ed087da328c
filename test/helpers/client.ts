import WebSocket from "ws";
import { type Room, type StartResponse, SUBPROTOCOL, TICKET_PREFIX } from "../../src/protocol";
import { FrameCollector, type SocketLike } from "./collector";
import { type ApiResult, apiRequest, type RequestOptions, readResult } from "./request";

export async function call<T = any>(
  base: string,
  method: string,
  path: string,
  options: RequestOptions = {},
): Promise<ApiResult<T>> {
  return readResult<T>(await fetch(apiRequest(base, method, path, options)));
}

function expectOk<T>(result: ApiResult<T>, what: string): T {
  if (result.status >= 300) throw new Error(`${what}: ${result.status} ${JSON.stringify(result.body)}`);
  return result.body;
}

export async function devLogin(base: string, name: string, tenant?: string): Promise<string> {
  return expectOk(
    await call<{ access_token: string }>(base, "POST", "/v1/auth/dev-login", { body: { name, tenant } }),
    "dev-login",
  ).access_token;
}

export async function createRoom(base: string, token: string, body: Record<string, unknown> = {}): Promise<Room> {
  return expectOk(await call<Room>(base, "POST", "/v1/rooms", { token, body }), "create room");
}

export async function startRoom(
  base: string,
  token: string,
  roomId: string,
  body: Record<string, unknown> = {},
): Promise<StartResponse> {
  return expectOk(await call<StartResponse>(base, "POST", `/v1/rooms/${roomId}/start`, { token, body }), "start");
}

/** Opens a signalling WebSocket from Node; rejects with the status and body when the upgrade is refused. */
export function openSignaling(
  base: string,
  roomId: string,
  ticket: string,
  options: { origin?: string; protocols?: string[] } = {},
): Promise<FrameCollector> {
  const url = `${base.replace(/^http/, "ws")}/v1/rooms/${roomId}/signaling`;
  const socket = new WebSocket(url, options.protocols ?? [SUBPROTOCOL, `${TICKET_PREFIX}${ticket}`], {
    origin: options.origin,
  });
  const collector = new FrameCollector(socket as unknown as SocketLike);
  return new Promise((resolve, reject) => {
    socket.once("open", () => resolve(collector));
    socket.once("unexpected-response", (_request, response) => {
      let body = "";
      response.on("data", (chunk: Buffer) => (body += chunk));
      response.on("end", () =>
        reject(
          Object.assign(new Error(`upgrade refused: ${response.statusCode} ${body}`), {
            status: response.statusCode,
            body,
          }),
        ),
      );
    });
    socket.once("error", reject);
  });
}
