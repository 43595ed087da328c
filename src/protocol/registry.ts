import { z } from "zod";
import { BreakoutCommandSchema, BreakoutEventSchema, BreakoutJoinStateSchema } from "./breakout";
import { ChatCommandSchema, ChatEventSchema, ChatJoinStateSchema } from "./chat";
import { IdSchema, openEnum, RoleSchema } from "./common";
import { ControlCommandSchema, ControlEventSchema, ParticipantSchema } from "./control";
import { type ErrorPayload, ErrorPayloadSchema, serverFrameSchema } from "./frames";
import { LegalVoteCommandSchema, LegalVoteEventSchema, LegalVoteJoinStateSchema } from "./legal-vote";
import { MediaCommandSchema, MediaEventSchema, MediaJoinStateSchema } from "./media";
import {
  AutomodCommandSchema,
  AutomodEventSchema,
  AutomodJoinStateSchema,
  FeedbackCommandSchema,
  FeedbackEventSchema,
  FeedbackJoinStateSchema,
  PollsCommandSchema,
  PollsEventSchema,
  PollsJoinStateSchema,
  TimerCommandSchema,
  TimerEventSchema,
  TimerJoinStateSchema,
} from "./meeting-tools";
import { ModerationCommandSchema, ModerationEventSchema, ModerationJoinStateSchema } from "./moderation";
import { TurnCommandSchema, TurnCredentialsSchema, TurnEventSchema } from "./turn";

/** Every event union is discriminated by `message`, every command union by `action`. */
type EventUnion = z.ZodDiscriminatedUnion<z.ZodObject<{ message: z.ZodLiteral<string> } & z.ZodRawShape>[], "message">;
type CommandUnion = z.ZodType<{ action: string }>;

interface NamespaceProtocol {
  commands: CommandUnion;
  events: EventUnion;
  /** The namespace's part of `control.join_success.modules`. */
  joinState?: z.ZodType;
}

/**
 * The protocol namespaces, one line each. This list builds the server-frame union, the join_success schema, the
 * client's command types and its typed dispatcher; the room object's module list is checked against it.
 */
const SPECIFIED = {
  control: { commands: ControlCommandSchema, events: ControlEventSchema },
  chat: { commands: ChatCommandSchema, events: ChatEventSchema, joinState: ChatJoinStateSchema },
  turn: { commands: TurnCommandSchema, events: TurnEventSchema, joinState: TurnCredentialsSchema },
  media: { commands: MediaCommandSchema, events: MediaEventSchema, joinState: MediaJoinStateSchema },
  moderation: {
    commands: ModerationCommandSchema,
    events: ModerationEventSchema,
    joinState: ModerationJoinStateSchema,
  },
  legal_vote: { commands: LegalVoteCommandSchema, events: LegalVoteEventSchema, joinState: LegalVoteJoinStateSchema },
  polls: { commands: PollsCommandSchema, events: PollsEventSchema, joinState: PollsJoinStateSchema },
  timer: { commands: TimerCommandSchema, events: TimerEventSchema, joinState: TimerJoinStateSchema },
  automod: { commands: AutomodCommandSchema, events: AutomodEventSchema, joinState: AutomodJoinStateSchema },
  feedback: { commands: FeedbackCommandSchema, events: FeedbackEventSchema, joinState: FeedbackJoinStateSchema },
  breakout: { commands: BreakoutCommandSchema, events: BreakoutEventSchema, joinState: BreakoutJoinStateSchema },
} as const satisfies Record<string, NamespaceProtocol>;

type Specified = typeof SPECIFIED;
type JoinStateShape = {
  [N in keyof Specified as Specified[N] extends { joinState: z.ZodType } ? N : never]: Specified[N] extends {
    joinState: infer J;
  }
    ? J
    : never;
};

type NullableShape = { [N in keyof JoinStateShape]: z.ZodNullable<JoinStateShape[N]> };
/** A module whose state could not be computed for this join sends null; its events follow as usual. */
const joinStateShape = Object.fromEntries(
  Object.entries(SPECIFIED).flatMap(([name, spec]) => ("joinState" in spec ? [[name, spec.joinState.nullable()]] : [])),
) as NullableShape;

/** The first frame of an admitted connection: who the joiner is, who else is here, each module's state. */
export const JoinSuccessSchema = z.object({
  message: z.literal("join_success"),
  participant_id: IdSchema,
  role: openEnum(RoleSchema),
  display_name: z.string(),
  /** When the joiner arrived (as others see it in their presence; a reconnect renews it). */
  joined_at: z.iso.datetime(),
  /** Everyone else currently in the room. */
  participants: z.array(ParticipantSchema),
  /** Each module's state for the joiner, keyed by namespace; null when the module could not compute it (e.g. turn
   * when minting failed: credentials follow by themselves). */
  modules: z.object(joinStateShape),
});
export type JoinSuccess = z.infer<typeof JoinSuccessSchema>;

export const NAMESPACES = {
  ...SPECIFIED,
  control: {
    ...SPECIFIED.control,
    events: z.discriminatedUnion("message", [JoinSuccessSchema, ...SPECIFIED.control.events.options]),
  },
} as const;

export type Namespace = keyof typeof NAMESPACES;
export const NAMESPACE_NAMES = Object.keys(NAMESPACES) as Namespace[];
export const isNamespace = (name: string): name is Namespace => Object.hasOwn(NAMESPACES, name);

/** A command of a namespace as a client writes it (before defaults are applied). */
export type CommandOf<N extends Namespace> = z.input<(typeof NAMESPACES)[N]["commands"]>;
/** A command as the server has validated it. */
export type ParsedCommandOf<N extends Namespace> = z.output<(typeof NAMESPACES)[N]["commands"]>;
/** An event of a namespace as the server writes it. */
export type EventOf<N extends Namespace> = z.input<(typeof NAMESPACES)[N]["events"]>;
/** An event as a client has parsed it. */
export type ReceivedEventOf<N extends Namespace> = z.output<(typeof NAMESPACES)[N]["events"]>;
export type EventName<N extends Namespace> = ReceivedEventOf<N>["message"];
export type ReceivedEvent<N extends Namespace, M extends EventName<N>> = Extract<ReceivedEventOf<N>, { message: M }>;
export type JoinStateNamespace = keyof JoinStateShape;
export type JoinStateOf<N extends JoinStateNamespace> = z.input<NullableShape[N]>;

/** The event names each namespace knows, for clients that skip events of a newer server. */
export const eventNames = (namespace: Namespace): ReadonlySet<string> =>
  new Set(NAMESPACES[namespace].events.options.map((option) => option.shape.message.value));

/** A frame of one namespace as clients receive it. */
export type FrameOf<N extends Namespace> = {
  namespace: N;
  timestamp: string;
  payload: ReceivedEventOf<N>;
  transaction_id?: number;
};
export type ErrorFrame = { namespace: string; timestamp: string; payload: ErrorPayload; transaction_id?: number };
export type ServerFrame = { [N in Namespace]: FrameOf<N> }[Namespace] | ErrorFrame;

/**
 * Every server → client frame, discriminated by namespace; tests parse with this (strict: known events only). The
 * namespace picks the one schema to try, so a frame costs one payload parse; error frames (any namespace) after.
 */
export const ServerFrameSchema = z.union([
  z.discriminatedUnion(
    "namespace",
    NAMESPACE_NAMES.map((name) =>
      serverFrameSchema(NAMESPACES[name].events as EventUnion).extend({ namespace: z.literal(name) }),
    ) as unknown as [z.ZodObject<{ namespace: z.ZodLiteral<Namespace> }>],
  ),
  serverFrameSchema(ErrorPayloadSchema),
]) as unknown as z.ZodType<ServerFrame>;
