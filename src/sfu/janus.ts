/**
 * A small client of Janus's HTTP REST and admin APIs (Janus 1.1). Only room objects and the SFU pool talk to
 * Janus; browsers never do.
 */
export interface JanusReply {
  janus: string;
  error?: { code: number; reason: string };
  [field: string]: unknown;
}

export class JanusError extends Error {
  constructor(
    message: string,
    /** Janus's error code, e.g. 458 (no such session). */
    readonly code?: number,
  ) {
    super(message);
  }
}

/** A node's REST API: its base URL and the `api_secret` every request carries (null: the node has none). */
export interface JanusApi {
  url: string;
  secret: string | null;
}

/** Janus error: the session does not exist (timed out, or the node restarted). */
export const JANUS_NO_SUCH_SESSION = 458;

/** Janus's error codes (core and VideoRoom) by what a client may be told; Janus's own reasons stay in our logs. */
const CLIENT_TEXTS: [codes: number[], text: string][] = [
  // Core 464 (unknown JSEP type), 465 (invalid SDP); VideoRoom 431 (invalid SDP type), 437 (invalid SDP).
  [[431, 437, 464, 465], "the SFU could not use the session description"],
  // VideoRoom 428 (no such feed), 435 (not published).
  [[428, 435], "that stream is not published on the SFU"],
  // VideoRoom 432 (too many publishers).
  [[432], "the SFU room takes no more publishers"],
  // Core 458 (no such session), 459 (no such handle).
  [[458, 459], "the SFU connection was lost; media is set up again"],
  // Core 403 (unauthorized), 405 (unauthorized plugin); VideoRoom 433 (unauthorized).
  [[403, 405, 433], "the SFU refused the room's credentials"],
];

/** The fixed text a client gets for a Janus failure: never Janus's reason, which may name its internals. */
export function sfuFailureText(code: number | undefined): string {
  if (code === undefined) return "the SFU did not answer";
  return CLIENT_TEXTS.find(([codes]) => codes.includes(code))?.[1] ?? `the SFU refused the request (${code})`;
}

/** fetch with a deadline; the timer is cleared once the request settles. */
async function fetchWithin(url: string, init: RequestInit, timeoutMs: number): Promise<Response> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    return await fetch(url, { ...init, signal: controller.signal });
  } finally {
    clearTimeout(timer);
  }
}

async function post(url: string, body: Record<string, unknown>, timeoutMs: number): Promise<JanusReply> {
  const response = await fetchWithin(
    url,
    {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...body, transaction: crypto.randomUUID() }),
    },
    timeoutMs,
  );
  if (!response.ok) throw new JanusError(`janus answered HTTP ${response.status}`);
  const reply = (await response.json()) as JanusReply;
  if (reply.janus === "error")
    throw new JanusError(`janus error ${reply.error?.code}: ${reply.error?.reason}`, reply.error?.code);
  return reply;
}

/** Every request to a node's REST API carries its api_secret (Janus refuses the others). */
const withSecret = (api: JanusApi, body: Record<string, unknown>) =>
  api.secret === null ? body : { ...body, apisecret: api.secret };

/** Liveness: GET <api>/info (Janus answers it without the api_secret). */
export async function janusInfo(apiUrl: string, timeoutMs: number): Promise<Record<string, unknown>> {
  const response = await fetchWithin(`${apiUrl}/info`, {}, timeoutMs);
  if (!response.ok) throw new JanusError(`janus info answered HTTP ${response.status}`);
  return (await response.json()) as Record<string, unknown>;
}

/** Load from the admin API: sessions and the handles within them (our rooms hold one session each). */
export async function janusLoad(
  adminUrl: string,
  adminSecret: string,
  timeoutMs: number,
): Promise<{ sessions: number; handles: number }> {
  const listed = await post(adminUrl, { janus: "list_sessions", admin_secret: adminSecret }, timeoutMs);
  const sessions = (listed.sessions as number[] | undefined) ?? [];
  let handles = 0;
  for (const session of sessions.slice(0, 500)) {
    const reply = await post(`${adminUrl}/${session}`, { janus: "list_handles", admin_secret: adminSecret }, timeoutMs);
    handles += ((reply.handles as number[] | undefined) ?? []).length;
  }
  return { sessions: sessions.length, handles };
}

/** A Janus session on one node (the room object's; one per room with live media). */
export class JanusSession {
  private constructor(
    readonly api: JanusApi,
    readonly id: number,
    private readonly timeoutMs: number,
  ) {}

  static async create(api: JanusApi, timeoutMs: number): Promise<JanusSession> {
    const reply = await post(api.url, withSecret(api, { janus: "create" }), timeoutMs);
    return new JanusSession(api, (reply.data as { id: number }).id, timeoutMs);
  }

  /** A session the room created earlier (after the object was rebuilt). */
  static resume(api: JanusApi, id: number, timeoutMs: number): JanusSession {
    return new JanusSession(api, id, timeoutMs);
  }

  private request(path: string, body: Record<string, unknown>): Promise<JanusReply> {
    return post(`${this.api.url}/${path}`, withSecret(this.api, body), this.timeoutMs);
  }

  async attach(): Promise<number> {
    const reply = await this.request(`${this.id}`, { janus: "attach", plugin: "janus.plugin.videoroom" });
    return (reply.data as { id: number }).id;
  }

  /**
   * A plugin request. Synchronous requests (create, kick) answer with `success` and their plugin data; the
   * asynchronous ones (join, configure, update, start) answer `ack` and their outcome arrives as an event.
   */
  async message(
    handle: number,
    body: Record<string, unknown>,
    jsep?: { type: string; sdp: string },
  ): Promise<JanusReply> {
    const reply = await this.request(`${this.id}/${handle}`, { janus: "message", body, ...(jsep ? { jsep } : {}) });
    const data = (reply.plugindata as { data?: { error_code?: number; error?: string } } | undefined)?.data;
    if (data?.error_code !== undefined)
      throw new JanusError(`videoroom error ${data.error_code}: ${data.error}`, data.error_code);
    return reply;
  }

  async trickle(handle: number, candidate: Record<string, unknown> | null): Promise<void> {
    await this.request(`${this.id}/${handle}`, { janus: "trickle", candidate: candidate ?? { completed: true } });
  }

  async detach(handle: number): Promise<void> {
    await this.request(`${this.id}/${handle}`, { janus: "detach" });
  }

  async destroy(): Promise<void> {
    await this.request(`${this.id}`, { janus: "destroy" });
  }

  /**
   * Long-poll for events: Janus holds the request up to 30 s and answers with the events queued meanwhile (or a
   * keepalive). Each poll also keeps the session from timing out.
   */
  async poll(maxEvents: number): Promise<JanusReply[]> {
    const secret = this.api.secret === null ? "" : `&apisecret=${encodeURIComponent(this.api.secret)}`;
    const response = await fetchWithin(`${this.api.url}/${this.id}?maxev=${maxEvents}${secret}`, {}, 40_000);
    if (!response.ok) throw new JanusError(`janus answered HTTP ${response.status}`);
    const body = (await response.json()) as JanusReply | JanusReply[];
    const events = Array.isArray(body) ? body : [body];
    const failure = events.find((e) => e.janus === "error");
    if (failure)
      throw new JanusError(`janus error ${failure.error?.code}: ${failure.error?.reason}`, failure.error?.code);
    return events.filter((e) => e.janus !== "keepalive");
  }
}
