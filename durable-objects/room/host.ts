import type { Namespace } from "../../src/protocol";
import { coalesced } from "../../src/shared/coalesce";
import type { Config } from "../../src/shared/config";
import { signingKey } from "../../src/shared/keys";
import { logFailure } from "../../src/shared/log";
import { sfuPoolOf } from "../../src/shared/objects";
import { grantTurn } from "../../src/shared/turn-grants";
import type { SignRequest } from "../signing-key";
import type {
  Admission,
  BoundModule,
  Candidate,
  Capabilities,
  Connection,
  ModuleContext,
  ModuleServices,
  Objects,
  RoomInfo,
  RoomModule,
  RosterView,
  Target,
} from "./module";
import type { Scheduler } from "./scheduler";
import type { CoreParticipant, Echo, PublicParticipant } from "./transport";

/** What the core provides to build module contexts. */
export interface HostDeps {
  config: Config;
  env: Env;
  sql: SqlStorage;
  scheduler: Scheduler;
  roster: RosterView;
  capabilities: Capabilities;
  info(): RoomInfo;
  /** Waits until the object's writes so far are durable. */
  sync(): Promise<void>;
  emit(target: Target, namespace: Namespace, event: { message: string }, echo?: Echo): void;
}

const STRICTNESS = { admit: 0, hold: 1, refuse: 2 } as const;

/**
 * Binds the room's modules to one object instance: a context per namespace, their services, and the hooks run
 * behind an error boundary (a failing hook is logged and the others still run).
 */
export class ModuleHost {
  readonly modules: ReadonlyMap<string, BoundModule>;
  /** Modules whose join state came without awaiting anything (found at the first join of this instance). */
  private readonly synchronous = new Set<string>();
  /** Filled as modules are bound; contexts read it at call time, so every module sees every service. */
  private readonly exported: Record<string, unknown> = {};

  constructor(list: readonly RoomModule[], deps: HostDeps) {
    const objects: Objects = {
      grantTurn: (requests) => grantTurn(deps.env, deps.config, requests),
      sfuPool: () => sfuPoolOf(deps.env),
      signingKey: (purpose) => signingKey(deps.env, purpose),
      signSession: coalesced((requests: SignRequest[]) => signingKey(deps.env, "session").signAll(requests)),
    };
    const services = this.services();
    const bound = list.map((module) => {
      const namespace = module.namespace;
      const context: Omit<ModuleContext<Namespace, unknown>, "state"> = {
        namespace,
        config: deps.config,
        sql: deps.sql,
        roster: deps.roster,
        room: { ...deps.capabilities, info: deps.info },
        objects,
        services,
        now: () => Date.now(),
        durable: deps.sync,
        emit: (target, event, sender) => deps.emit(target, namespace, event, sender),
        reply: (sender, event) => deps.emit({ to: "connection", connection: sender }, namespace, event, sender),
        timers: {
          schedule: (key, dueAt, data) => deps.scheduler.schedule(namespace, key, dueAt, data),
          cancel: (key) => deps.scheduler.cancel(namespace, key),
        },
      };
      return module.bind(context);
    });
    for (const module of bound) if (module.service !== undefined) this.exported[module.namespace] = module.service;
    this.modules = new Map(bound.map((m) => [m.namespace, m]));
  }

  /** The services modules export, for the core's RPC entry points (e.g. the SFU pool's failover call). */
  services(): ModuleServices {
    // Typed by the modules' declaration merging; each entry is set from the module of that namespace.
    return this.exported as unknown as ModuleServices;
  }

  /** The strictest decision of all modules on a candidate; a check that fails refuses (never lets in by error). */
  admit(candidate: Candidate): Admission {
    let verdict: Admission = { decision: "admit" };
    for (const module of this.modules.values()) {
      let say: Admission | undefined;
      try {
        say = module.hooks.admit?.(candidate);
      } catch (error) {
        logFailure(`room module ${module.namespace}.admit`, error);
        return { decision: "refuse", error: "internal_error", text: "an admission check failed on the server" };
      }
      if (say && STRICTNESS[say.decision] > STRICTNESS[verdict.decision]) verdict = say;
    }
    return verdict;
  }

  /** Each module's part of join_success; a module that fails gives null instead of failing the join. */
  async joinStates(connection: Connection): Promise<Record<string, unknown>> {
    const states: Record<string, unknown> = {};
    const settle = async (module: BoundModule, state: Promise<unknown>) => {
      try {
        states[module.namespace] = await state;
      } catch (error) {
        logFailure(`room module ${module.namespace}.joinState`, error);
        states[module.namespace] = null;
      }
    };
    // States that need other objects (TURN credentials, SFU placement) are gathered together; those read from the
    // room's own tables (chat, moderation) last, so no event sent meanwhile is missing from them: the socket is
    // accepted right after, without awaiting anything.
    const immediate: BoundModule[] = [];
    const pending: Promise<void>[] = [];
    for (const module of this.modules.values()) {
      const joinState = module.joinState;
      if (!joinState) continue;
      if (this.synchronous.has(module.namespace)) {
        immediate.push(module);
        continue;
      }
      let first: unknown;
      try {
        first = joinState(connection);
      } catch {
        first = undefined;
      }
      if (first instanceof Promise) pending.push(settle(module, first));
      else {
        this.synchronous.add(module.namespace);
        immediate.push(module);
      }
    }
    await Promise.all(pending);
    for (const module of immediate) {
      try {
        const state = module.joinState!(connection);
        // A module that turned asynchronous after all is awaited (and counted as such from now on).
        if (state instanceof Promise) this.synchronous.delete(module.namespace);
        states[module.namespace] = state instanceof Promise ? await state : state;
      } catch (error) {
        logFailure(`room module ${module.namespace}.joinState`, error);
        states[module.namespace] = null;
      }
    }
    return states;
  }

  /** Public participant fields: the core's plus those modules own (e.g. raised hands). */
  describe(base: CoreParticipant[]): PublicParticipant[] {
    if (base.length === 0) return base;
    const ids = base.map((p) => p.participant_id);
    // A module whose fields cannot be read is left out of this description rather than failing the join or batch.
    const contributions = [...this.modules.values()].flatMap((m) => {
      if (!m.presence) return [];
      try {
        return [m.presence(ids)];
      } catch (error) {
        logFailure(`room module ${m.namespace}.presence`, error);
        return [];
      }
    });
    return base.map((p) => Object.assign(p, ...contributions.map((c) => c.get(p.participant_id) ?? {})));
  }

  /**
   * Runs one hook of every module in order, each behind the error boundary: a failure is logged, reported to
   * `failed` (so the connection it concerns can be told), and the other modules' hooks still run.
   */
  async run<H extends keyof BoundModule["hooks"]>(
    hook: H,
    args: Parameters<NonNullable<BoundModule["hooks"][H]>>,
    failed?: (namespace: Namespace) => void,
  ): Promise<void> {
    for (const module of this.modules.values()) {
      const fn = module.hooks[hook] as ((...a: unknown[]) => unknown) | undefined;
      if (!fn) continue;
      try {
        await fn(...args);
      } catch (error) {
        logFailure(`room module ${module.namespace}.${hook}`, error);
        failed?.(module.namespace);
      }
    }
  }

  /** The scheduler's handler for a module's timers. */
  timerHandler(namespace: string) {
    const module = this.modules.get(namespace);
    const timer = module?.hooks.timer;
    return timer && ((key: string, data: unknown) => timer(key, data));
  }
}
