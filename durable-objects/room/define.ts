import type { z } from "zod";
import { NAMESPACES, type Namespace, type ParsedCommandOf, type Participant, type Role } from "../../src/protocol";
import type { CommandError, Connection, ModuleContext, ModuleDefinition, ModuleHooks, Sender } from "./module";

type Returns<T> = T | Promise<T>;

/** A module bound to one room object instance, its command types sealed in so the host can hold them in a list. */
export interface BoundModule {
  readonly namespace: Namespace;
  /** Roles that may issue `action`; undefined when the namespace has no such action. */
  rolesFor(action: string): readonly Role[] | undefined;
  /**
   * Validates the payload, applies the permission rule and runs the handler. Synchronous failures throw
   * synchronously (the dispatcher runs this inside a SQL transaction that then rolls back).
   */
  execute(sender: Sender, payload: unknown): Returns<CommandError | void>;
  joinState?(connection: Connection): Returns<unknown>;
  presence?(participantIds: readonly string[]): ReadonlyMap<string, Partial<Participant>>;
  readonly hooks: {
    [H in keyof ModuleHooks<Namespace, unknown>]?: OmitFirst<NonNullable<ModuleHooks<Namespace, unknown>[H]>>;
  };
  readonly service: unknown;
}
type OmitFirst<F> = F extends (first: never, ...rest: infer R) => infer T ? (...args: R) => T : never;

/** A module as the room lists it: binds itself to a context once per object instance. */
export interface RoomModule<N extends Namespace = Namespace> {
  readonly namespace: N;
  readonly migrations: readonly string[];
  bind(context: Omit<ModuleContext<Namespace, unknown>, "state">): BoundModule;
}

export function defineModule<N extends Namespace, S = undefined>(definition: ModuleDefinition<N, S>): RoomModule<N> {
  const commands = NAMESPACES[definition.namespace].commands as unknown as z.ZodType<ParsedCommandOf<N>>;
  // Erased to one action type: the handler gets the command its own action's rule was written for.
  type AnyPermission =
    | readonly Role[]
    | { roles: readonly Role[]; allow(...args: unknown[]): CommandError | undefined };
  const permissions = definition.permissions as unknown as Readonly<Record<string, AnyPermission>>;
  return {
    namespace: definition.namespace,
    migrations: definition.migrations,
    bind(base) {
      const ctx = { ...base, state: undefined } as unknown as ModuleContext<N, S> & { state: S };
      if (definition.state) ctx.state = definition.state(ctx);
      const hooks: BoundModule["hooks"] = Object.fromEntries(
        Object.entries(definition.hooks ?? {}).map(([name, hook]) => [
          name,
          (...args: unknown[]) => (hook as (...all: unknown[]) => unknown)(ctx, ...args),
        ]),
      );
      const { joinState, presence } = definition;
      return {
        namespace: definition.namespace,
        rolesFor(action) {
          if (!Object.hasOwn(permissions, action)) return undefined;
          const permission = permissions[action]!;
          return "roles" in permission ? permission.roles : permission;
        },
        execute(sender, payload) {
          const parsed = commands.safeParse(payload);
          if (!parsed.success) {
            const issue = parsed.error.issues[0];
            const where = issue?.path.join(".") || "payload";
            return { error: "invalid_frame", text: `${where}: ${issue?.message ?? "invalid"}` };
          }
          const permission = permissions[parsed.data.action];
          const refused = permission && "allow" in permission ? permission.allow(ctx, sender, parsed.data) : undefined;
          return refused ?? definition.handle(ctx, sender, parsed.data);
        },
        joinState: joinState && ((connection) => joinState(ctx, connection)),
        presence: presence && ((ids) => presence(ctx, ids)),
        hooks,
        service: definition.service?.(ctx),
      };
    },
  };
}
