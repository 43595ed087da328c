import { z } from "zod";
import type { TurnCredentials } from "../../../src/protocol";
import { SESSION_AUDIENCE, SESSION_ISSUER, signingKey } from "../../../src/shared/keys";
import { type Connection, defineModule, type RoomApi } from "../module";

const TurnCommandSchema = z.discriminatedUnion("action", [z.object({ action: z.literal("refresh") }).strict()]);

/** Credentials are renewed when this share of their lifetime has passed. */
const REFRESH_AT = 0.8;
/** When minting failed, the next try. */
const RETRY_MS = 5000;

/**
 * The `turn` namespace: every connection gets TURN credentials for the nearest healthy nodes and a room session
 * token in join_success, and fresh ones over the socket before they expire (a timer per participant), or on
 * request with `refresh`.
 */
async function credentialsFor(api: RoomApi, connections: Connection[]): Promise<TurnCredentials[]> {
  const { id: room, tenant } = api.room();
  const ttlSeconds = api.config.SESSION_TOKEN_TTL_SECONDS;
  const fleet = api.env.TURN_FLEET.get(api.env.TURN_FLEET.idFromName("fleet"));
  const [grants, tokens] = await Promise.all([
    fleet.grant(connections.map((c) => ({ opaqueId: c.connectionId, region: c.region }))),
    signingKey(api.env, "session").signAll(
      connections.map((c) => ({
        issuer: SESSION_ISSUER,
        audience: SESSION_AUDIENCE,
        subject: c.participantId,
        ttlSeconds,
        claims: { tenant, room, sid: c.connectionId },
      })),
    ),
  ]);
  const tokenExpiry = new Date(api.now() + ttlSeconds * 1000).toISOString();
  return grants.map((grant, i) => ({ ...grant, session_token: tokens[i]!, session_token_expires_at: tokenExpiry }));
}

async function scheduleRefresh(api: RoomApi, participantId: string): Promise<void> {
  const lifetime = Math.min(api.config.TURN_TTL_SECONDS, api.config.SESSION_TOKEN_TTL_SECONDS) * 1000;
  await api.schedule("turn", participantId, api.now() + lifetime * REFRESH_AT);
}

export const turn = defineModule<z.infer<typeof TurnCommandSchema>>({
  namespace: "turn",
  migrations: [],
  commands: TurnCommandSchema,
  permissions: { refresh: ["owner", "moderator", "user", "guest"] },
  async handle(api, sender) {
    const [credentials] = await credentialsFor(api, [sender]);
    api.reply(sender, "turn", { message: "credentials", ...credentials! });
  },
  async joinState(api, connection) {
    try {
      const [credentials] = await credentialsFor(api, [connection]);
      await scheduleRefresh(api, connection.participantId);
      return credentials;
    } catch (error) {
      // Joining must not depend on TURN: the connection gets credentials from the retry instead.
      console.error("turn credentials unavailable at join:", error instanceof Error ? error.message : "unknown");
      await api.schedule("turn", connection.participantId, api.now() + RETRY_MS);
      return null;
    }
  },
  async onTimer(api, participantId) {
    const connections = api.connectionsOf(participantId);
    if (connections.length === 0) return; // gone: the timer ends with the participant
    try {
      const fresh = await credentialsFor(api, connections);
      for (const [i, c] of connections.entries()) api.sendTo(c, "turn", { message: "credentials", ...fresh[i]! });
      await scheduleRefresh(api, participantId);
    } catch (error) {
      console.error("turn credential refresh failed:", error instanceof Error ? error.message : "unknown");
      await api.schedule("turn", participantId, api.now() + RETRY_MS);
    }
  },
});
