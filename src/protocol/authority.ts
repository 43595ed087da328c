import { BREAKOUT_AUTHORITY } from "./breakout";
import { CHAT_AUTHORITY } from "./chat";
import type { Role } from "./common";
import { LEGAL_VOTE_AUTHORITY } from "./legal-vote";
import { AUTOMOD_AUTHORITY, FEEDBACK_AUTHORITY, POLLS_AUTHORITY, TIMER_AUTHORITY } from "./meeting-tools";
import { CHAIRS, MODERATION_AUTHORITY, type ModerationAction } from "./moderation";

const EVERY_ROLE: readonly Role[] = ["owner", "moderator", "user", "guest"];

/**
 * Who may issue each command, for every namespace whose commands are not simply everyone's: the one table the tests
 * expand (the authorization matrix), the fuzz oracle predicts from and docs/protocol.md's "who" cells render. Each
 * module enforces its namespace's row; moderation's also has target rules (`MODERATION_AUTHORITY`).
 */
export const COMMAND_ISSUERS = {
  moderation: Object.fromEntries(
    Object.entries(MODERATION_AUTHORITY).map(([action, { issuers }]) => [action, issuers]),
  ) as { readonly [A in ModerationAction]: readonly Role[] },
  chat: CHAT_AUTHORITY,
  legal_vote: LEGAL_VOTE_AUTHORITY,
  polls: POLLS_AUTHORITY,
  timer: TIMER_AUTHORITY,
  automod: AUTOMOD_AUTHORITY,
  feedback: FEEDBACK_AUTHORITY,
  breakout: BREAKOUT_AUTHORITY,
} as const;
export type RoleTableNamespace = keyof typeof COMMAND_ISSUERS;

const same = (a: readonly Role[], b: readonly Role[]) => a.length === b.length && a.every((r) => b.includes(r));

/** The "who" cell of docs/protocol.md for a list of roles ("chair": owner and moderator). */
export const issuersText = (roles: readonly Role[]): string =>
  same(roles, EVERY_ROLE) ? "everyone" : same(roles, CHAIRS) ? "owner, moderator" : roles.join(", ");
