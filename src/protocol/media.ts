import { z } from "zod";
import { IdSchema } from "./common";

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
  (r.kind === "offer" || r.kind === "answer") === (r.sdp !== undefined) && (r.kind === "candidate") === (r.candidate !== undefined);
const RELAY_SHAPE = "offers and answers carry sdp, candidates carry candidate, nothing else";

export const MediaCommandSchema = z.discriminatedUnion("action", [
  z.object({ action: z.literal("publish"), stream: StreamSchema, audio: z.boolean(), video: z.boolean() }).strict(),
  z.object({ action: z.literal("unpublish"), stream: StreamSchema }).strict(),
  z.object({ action: z.literal("subscribe"), target: IdSchema, stream: StreamSchema }).strict(),
  z.object({ action: z.literal("relay"), target: IdSchema, ...relayFields }).strict().refine(relayComplete, RELAY_SHAPE),
]);
export type MediaCommand = z.infer<typeof MediaCommandSchema>;

export const MediaEventSchema = z.discriminatedUnion("message", [
  /** A participant's published streams changed (published, unpublished, muted, or it left: empty streams). */
  z.object({ message: z.literal("publisher_update"), publisher: PublisherSchema }),
  /** Mesh: someone wants one of your streams; create an offer and relay it. */
  z.object({ message: z.literal("subscribe_request"), subscriber: IdSchema, stream: StreamSchema }),
  /** Mesh: relayed signalling from `source` about `stream`. */
  z.object({ message: z.literal("relay"), source: IdSchema, ...relayFields }),
  z.object({
    message: z.literal("sfu_changed"),
    reason: z.enum(["dead", "removed"]),
    /** False when no other node could take the room: media is unavailable until one can. */
    available: z.boolean(),
  }),
]);

/** join_success.modules.media */
export const MediaJoinStateSchema = z.object({
  mode: z.enum(["mesh", "sfu"]),
  publishers: z.array(PublisherSchema),
});
