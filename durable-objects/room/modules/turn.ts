import type { TurnCredentials } from "../../../src/protocol";
import { SESSION_AUDIENCE, SESSION_ISSUER } from "../../../src/shared/keys";
import { logFailure } from "../../../src/shared/log";
import { type Connection, defineModule, type ModuleContext } from "../module";

/** Credentials are renewed when this share of their lifetime has passed. */
const REFRESH_AT = 0.8;
/** When minting failed, the next try. */
const RETRY_MS = 5000;

type Context = ModuleContext<"turn">;

/** TURN credentials from the fleet and a room session token, for each connection. */
async function credentialsFor(ctx: Context, connections: Connection[]): Promise<TurnCredentials[]> {
  const { id: room, tenant } = ctx.room.info();
  const ttlSeconds = ctx.config.SESSION_TOKEN_TTL_SECONDS;
  const [grants, tokens] = await Promise.all([
    ctx.objects.grantTurn(connections.map((c) => ({ opaqueId: c.connectionId, region: c.region }))),
    Promise.all(
      connections.map((c) =>
        ctx.objects.signSession({
          issuer: SESSION_ISSUER,
          audience: SESSION_AUDIENCE,
          subject: c.participantId,
          ttlSeconds,
          claims: { tenant, room, sid: c.connectionId },
        }),
      ),
    ),
  ]);
  const tokenExpiry = new Date(ctx.now() + ttlSeconds * 1000).toISOString();
  return grants.map((grant, i) => ({ ...grant, session_token: tokens[i]!, session_token_expires_at: tokenExpiry }));
}

function scheduleRefresh(ctx: Context, participantId: string): Promise<void> {
  const lifetime = Math.min(ctx.config.TURN_TTL_SECONDS, ctx.config.SESSION_TOKEN_TTL_SECONDS) * 1000;
  return ctx.timers.schedule(participantId, ctx.now() + lifetime * REFRESH_AT);
}

/**
 * The `turn` namespace: every connection gets TURN credentials for the nearest healthy nodes and a room session
 * token in join_success, and fresh ones over the socket before they expire (a timer per participant), or on
 * request with `refresh`.
 */
export const turn = defineModule({
  namespace: "turn",
  migrations: [],
  permissions: { refresh: ["owner", "moderator", "user", "guest"] },
  async handle(ctx, sender) {
    const [credentials] = await credentialsFor(ctx, [sender]);
    ctx.reply(sender, { message: "credentials", ...credentials! });
  },
  async joinState(ctx, connection) {
    try {
      const [credentials] = await credentialsFor(ctx, [connection]);
      await scheduleRefresh(ctx, connection.participantId);
      return credentials!;
    } catch (error) {
      // Joining must not depend on TURN: the connection gets credentials from the retry instead.
      logFailure("turn credentials unavailable at join", error);
      await ctx.timers.schedule(connection.participantId, ctx.now() + RETRY_MS);
      return null;
    }
  },
  hooks: {
    async timer(ctx, participantId) {
      const connections = ctx.roster.connectionsOf(participantId);
      // Gone, or sent back to the waiting room (being let in again brings fresh credentials): the timer ends.
      if (connections.length === 0 || ctx.roster.member(participantId)?.held) return;
      try {
        const fresh = await credentialsFor(ctx, connections);
        for (const [i, c] of connections.entries()) {
          ctx.emit({ to: "connection", connection: c }, { message: "credentials", ...fresh[i]! });
        }
        await scheduleRefresh(ctx, participantId);
      } catch (error) {
        logFailure("turn credential refresh failed", error);
        await ctx.timers.schedule(participantId, ctx.now() + RETRY_MS);
      }
    },
  },
});
