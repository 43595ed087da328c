import { z } from "zod";
import { IdSchema, openEnum } from "./common";

export const StreamSchema = z.enum(["camera", "screen"]);
export type Stream = z.infer<typeof StreamSchema>;

/** What a participant publishes: per stream, whether audio and video are on (not muted). */
export const StreamStateSchema = z.object({ audio: z.boolean(), video: z.boolean() }).strict();
export const PublisherSchema = z.object({
  participant_id: IdSchema,
  streams: z.partialRecord(StreamSchema, StreamStateSchema),
});
export type Publisher = z.infer<typeof PublisherSchema>;

/** Peer-to-peer signalling, relayed by the room between a publisher and a subscriber of one stream. */
const RelayKindSchema = z.enum(["offer", "answer", "candidate", "end_of_candidates"]);
const CandidateSchema = z
  .object({
    candidate: z.string().max(1024),
    sdpMid: z.string().max(64).nullable().optional(),
    sdpMLineIndex: z.number().int().min(0).max(64).nullable().optional(),
    usernameFragment: z.string().max(256).nullable().optional(),
  })
  .strict();
/** `publisher` names whose stream the connection carries, so both ends of a pair tell their two connections apart. */
const relayFields = {
  publisher: IdSchema,
  stream: StreamSchema,
  kind: RelayKindSchema,
  sdp: z.string().min(1).optional(),
  candidate: CandidateSchema.optional(),
};
const relayComplete = (r: { kind: string; sdp?: string; candidate?: unknown }) =>
  (r.kind === "offer" || r.kind === "answer") === (r.sdp !== undefined) &&
  (r.kind === "candidate") === (r.candidate !== undefined);
const RELAY_SHAPE = "offers and answers carry sdp, candidates carry candidate, nothing else";

/** SFU: which of a connection's two media connections to the SFU a candidate belongs to. */
const DirectionSchema = z.enum(["publish", "subscribe"]);
const SdpSchema = z.string().min(1);
/** SFU: a subscription's numbered offer; only the newest offer's answer is accepted. */
const NegotiationSchema = z.number().int().min(1);

export const MediaCommandSchema = z.discriminatedUnion("action", [
  /** Announces (or updates the mute state of) a stream; with an SFU the media follows as publish_offer. */
  z.object({ action: z.literal("publish"), stream: StreamSchema, audio: z.boolean(), video: z.boolean() }).strict(),
  z.object({ action: z.literal("unpublish"), stream: StreamSchema }).strict(),
  /** Mesh: ask a publisher for a stream. SFU: receive this publisher's video even when it is not a recent speaker. */
  z.object({ action: z.literal("subscribe"), target: IdSchema, stream: StreamSchema }).strict(),
  z
    .object({ action: z.literal("relay"), target: IdSchema, ...relayFields })
    .strict()
    .refine(relayComplete, RELAY_SHAPE),
  /** SFU: the browser's offer for a stream it announced; the SFU's answer comes back as publish_answer. */
  z.object({ action: z.literal("publish_offer"), stream: StreamSchema, sdp: SdpSchema }).strict(),
  /** SFU: the answer to subscribe_offer `negotiation`. */
  z.object({ action: z.literal("subscribe_answer"), negotiation: NegotiationSchema, sdp: SdpSchema }).strict(),
  /** SFU: a local ICE candidate, or null when gathering is complete. `stream` names the publishing connection. */
  z
    .object({
      action: z.literal("trickle"),
      direction: DirectionSchema,
      stream: StreamSchema.optional(),
      candidate: CandidateSchema.nullable(),
    })
    .strict()
    .refine(
      (t) => (t.direction === "publish") === (t.stream !== undefined),
      "publish candidates name their stream, subscribe candidates do not",
    ),
]);

export const MediaEventSchema = z.discriminatedUnion("message", [
  /** A participant's published streams changed (published, unpublished, muted, or it left: empty streams). */
  z.object({ message: z.literal("publisher_update"), publisher: PublisherSchema }),
  /** Mesh: someone wants one of your streams; create an offer and relay it. */
  z.object({ message: z.literal("subscribe_request"), subscriber: IdSchema, stream: StreamSchema }),
  /** Mesh: relayed signalling from `source` about `stream`. */
  z.object({ message: z.literal("relay"), source: IdSchema, ...relayFields }),
  /** SFU: the answer to this connection's publish_offer. */
  z.object({ message: z.literal("publish_answer"), stream: StreamSchema, sdp: SdpSchema }),
  /**
   * SFU: the SFU's offer for everything this connection receives (all of it, not a delta). `streams` maps each
   * m-line (mid) to whose stream it carries.
   */
  z.object({
    message: z.literal("subscribe_offer"),
    negotiation: NegotiationSchema,
    sdp: SdpSchema,
    streams: z.array(
      z.object({
        mid: z.string(),
        participant_id: IdSchema,
        stream: StreamSchema,
        kind: openEnum(z.enum(["audio", "video"])),
      }),
    ),
  }),
  /** SFU: one of the SFU's ICE candidates for one of this connection's media connections (null: no more). */
  z.object({
    message: z.literal("candidate"),
    direction: DirectionSchema,
    stream: StreamSchema.optional(),
    candidate: CandidateSchema.nullable(),
  }),
  /** SFU: a publisher started or stopped speaking (from the SFU's audio levels). */
  z.object({ message: z.literal("speaking"), participant_id: IdSchema, speaking: z.boolean() }),
  z.object({
    message: z.literal("sfu_changed"),
    /**
     * dead or removed: the node was lost; reset: the node forgot the room's session (e.g. it restarted); placed: a
     * room that ran peer to peer now has a node (microphone restrictions need one), clients publish through it.
     */
    reason: openEnum(z.enum(["dead", "removed", "reset", "placed"])),
    /** False when no other node could take the room: media is unavailable until one can. */
    available: z.boolean(),
  }),
]);

/** join_success.modules.media */
export const MediaJoinStateSchema = z.object({
  mode: openEnum(z.enum(["mesh", "sfu"])),
  publishers: z.array(PublisherSchema),
  /** The joiner's microphone is held off (a chair muted them and they have not unmuted): publish without audio. */
  muted: z.boolean(),
});
