import { z } from "zod";
import { ErrorCodeSchema, IdSchema, openEnum } from "./common";

export const SUBPROTOCOL = "plenum-signaling-v1";
export const TICKET_PREFIX = "ticket#";

/** Envelope of every client → server frame; the payload is validated by its namespace's command schema. */
export const ClientFrameSchema = z
  .object({
    namespace: z.string().min(1).max(64),
    payload: z.object({ action: z.string().min(1).max(64) }).loose(),
    transaction_id: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional(),
  })
  .strict();
export type ClientFrame = z.infer<typeof ClientFrameSchema>;

/** Envelope of every server → client frame. */
export const serverFrameSchema = <P extends z.ZodType>(payload: P) =>
  z.object({
    namespace: z.string(),
    timestamp: z.iso.datetime(),
    payload,
    transaction_id: z.number().int().optional(),
  });

export const ErrorPayloadSchema = z.object({
  message: z.literal("error"),
  error: openEnum(ErrorCodeSchema),
  /** Human-readable detail; never echoes secrets. */
  text: z.string().optional(),
  /** `slow_down`: when the refused command would be accepted again. */
  retry_after_ms: z.number().int().nonnegative().optional(),
  /** `ineligible`: the participants named in the command who may not take part (e.g. guests in a vote). */
  participant_ids: z.array(IdSchema).optional(),
});
export type ErrorPayload = z.infer<typeof ErrorPayloadSchema>;

/** Reads `Sec-WebSocket-Protocol: plenum-signaling-v1, ticket#<ticket>`. */
export function parseSubprotocols(header: string | null): { versionOffered: boolean; ticket: string | undefined } {
  const offered = (header ?? "").split(",").map((p) => p.trim());
  const ticket = offered.find((p) => p.startsWith(TICKET_PREFIX))?.slice(TICKET_PREFIX.length);
  return { versionOffered: offered.includes(SUBPROTOCOL), ticket: ticket || undefined };
}
