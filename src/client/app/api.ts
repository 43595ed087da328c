import type { AuthOptions, Invite, Room, RoomList, StartResponse, VoteList } from "../../protocol";

/** The signed-in user's access token (development login or OIDC), per browser tab. */
const TOKEN_KEY = "plenum.token";
const NAME_KEY = "plenum.name";

export const session = {
  token: () => sessionStorage.getItem(TOKEN_KEY),
  name: () => sessionStorage.getItem(NAME_KEY) ?? "",
  set(token: string, name: string) {
    sessionStorage.setItem(TOKEN_KEY, token);
    sessionStorage.setItem(NAME_KEY, name);
  },
  clear() {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(NAME_KEY);
  },
};

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

async function call<T>(method: string, path: string, body?: unknown, token = session.token()): Promise<T> {
  const response = await fetch(path, {
    method,
    headers: {
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const payload = (await response.json().catch(() => ({}))) as { error?: { code: string; message: string } };
  if (!response.ok)
    throw new ApiError(response.status, payload.error?.code ?? "error", payload.error?.message ?? response.statusText);
  return payload as T;
}

/** A file the server makes (a vote's protocol or report), its bytes as they came; refusals as for JSON calls. */
async function file(path: string, token = session.token()): Promise<Blob> {
  const response = await fetch(path, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  if (!response.ok) {
    const payload = (await response.json().catch(() => ({}))) as { error?: { code: string; message: string } };
    throw new ApiError(response.status, payload.error?.code ?? "error", payload.error?.message ?? response.statusText);
  }
  return response.blob();
}

const votePath = (id: string, voteId: string) =>
  `/v1/rooms/${encodeURIComponent(id)}/votes/${encodeURIComponent(voteId)}`;

export const api = {
  authOptions: () => call<AuthOptions>("GET", "/v1/auth/options", undefined, null),
  devLogin: (name: string) => call<{ access_token: string }>("POST", "/v1/auth/dev-login", { name }, null),
  /** `maxParticipants` undefined: the server's default limit. */
  createRoom: (name: string, waitingRoom: string, maxParticipants?: number) =>
    call<Room>("POST", "/v1/rooms", {
      name,
      waiting_room: waitingRoom,
      ...(maxParticipants === undefined ? {} : { max_participants: maxParticipants }),
    }),
  /** The rooms the signed-in user owns, newest first. */
  rooms: () => call<RoomList>("GET", "/v1/rooms"),
  room: (id: string) => call<Room>("GET", `/v1/rooms/${encodeURIComponent(id)}`),
  /** `{ id, invite_code, expires_at, max_uses }`; the code is shown this once. */
  invite: (id: string) => call<Invite>("POST", `/v1/rooms/${encodeURIComponent(id)}/invites`, {}),
  start: (id: string, displayName: string) =>
    call<StartResponse>("POST", `/v1/rooms/${encodeURIComponent(id)}/start`, { display_name: displayName }),
  startInvited: (id: string, inviteCode: string, displayName: string, resumption?: string) =>
    call<StartResponse>(
      "POST",
      `/v1/rooms/${encodeURIComponent(id)}/start_invited`,
      {
        invite_code: inviteCode,
        display_name: displayName,
        ...(resumption ? { resumption } : {}),
      },
      null,
    ),
  /** The room's votes as the server lists them (for chairs, and for each vote's eligible voters). */
  votes: (id: string) => call<VoteList>("GET", `/v1/rooms/${encodeURIComponent(id)}/votes`),
  /** A vote's protocol document (JSON, 409 while it runs) or its PDF report, unchanged. */
  voteFile: (id: string, voteId: string, name: "protocol" | "report.pdf") => file(`${votePath(id, voteId)}/${name}`),
};
