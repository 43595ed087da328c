/**
 * A small client of Janus's HTTP REST and admin APIs (Janus 1.1). Only room objects and the SFU pool talk to
 * Janus; browsers never do.
 */
export interface JanusReply {
  janus: string;
  error?: { code: number; reason: string };
  [field: string]: unknown;
}

export class JanusError extends Error {}

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
    { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ ...body, transaction: crypto.randomUUID() }) },
    timeoutMs,
  );
  if (!response.ok) throw new JanusError(`janus answered HTTP ${response.status}`);
  const reply = (await response.json()) as JanusReply;
  if (reply.janus === "error") throw new JanusError(`janus error ${reply.error?.code}: ${reply.error?.reason}`);
  return reply;
}

/** Liveness: GET <api>/info. */
export async function janusInfo(apiUrl: string, timeoutMs: number): Promise<Record<string, unknown>> {
  const response = await fetchWithin(`${apiUrl}/info`, {}, timeoutMs);
  if (!response.ok) throw new JanusError(`janus info answered HTTP ${response.status}`);
  return (await response.json()) as Record<string, unknown>;
}

/** Load from the admin API: sessions and the handles within them (our rooms hold one session each). */
export async function janusLoad(adminUrl: string, adminSecret: string, timeoutMs: number): Promise<{ sessions: number; handles: number }> {
  const listed = await post(adminUrl, { janus: "list_sessions", admin_secret: adminSecret }, timeoutMs);
  const sessions = (listed.sessions as number[] | undefined) ?? [];
  let handles = 0;
  for (const session of sessions.slice(0, 500)) {
    const reply = await post(`${adminUrl}/${session}`, { janus: "list_handles", admin_secret: adminSecret }, timeoutMs);
    handles += ((reply.handles as number[] | undefined) ?? []).length;
  }
  return { sessions: sessions.length, handles };
}
