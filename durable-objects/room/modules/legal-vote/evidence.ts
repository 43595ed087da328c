import {
  VOTE_HEAD_FORMAT,
  VOTE_RECEIPT_FORMAT,
  type VoteEntry,
  type VoteHead,
  type VoteReceipt,
} from "../../../../src/protocol";
import { signedPayload } from "../../../../src/votes/chain";
import type { Objects } from "../../module";

type VoteKey = ReturnType<Objects["signingKey"]>;
const RETRY_MS = 250;

/**
 * Signs the room's vote evidence with the deployment's vote key. Signatures asked for within one turn of the event
 * loop go to the key's object in one call, so a burst of ballots costs a few calls, not one each.
 */
export class EvidenceSigner {
  private pending: { payload: Uint8Array; resolve(signature: string): void; reject(error: unknown): void }[] = [];

  constructor(private readonly key: () => VoteKey) {}

  async receipt(voteId: string, entry: VoteEntry, ballot: VoteReceipt["ballot"]): Promise<VoteReceipt> {
    const signature = await this.sign(signedPayload.receipt(voteId, entry.seq, entry.hash));
    return { format: VOTE_RECEIPT_FORMAT, vote_id: voteId, seq: entry.seq, hash: entry.hash, ballot, signature };
  }

  async head(voteId: string, last: Pick<VoteEntry, "seq" | "hash">): Promise<VoteHead> {
    const signature = await this.sign(signedPayload.head(voteId, last.seq, last.hash));
    return { format: VOTE_HEAD_FORMAT, vote_id: voteId, seq: last.seq, hash: last.hash, signature };
  }

  sign(payload: Uint8Array): Promise<string> {
    return new Promise((resolve, reject) => {
      if (this.pending.length === 0) setTimeout(() => void this.flush(), 0);
      this.pending.push({ payload, resolve, reject });
    });
  }

  private async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    const payloads = batch.map((p) => p.payload);
    try {
      // Once more after a moment: what is signed here was already stored, and its evidence is owed to someone.
      const signatures = await this.key()
        .signAllCompact(payloads)
        .catch(async () => {
          await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
          return this.key().signAllCompact(payloads);
        });
      for (const [i, p] of batch.entries()) p.resolve(signatures[i]!);
    } catch (error) {
      for (const p of batch) p.reject(error);
    }
  }
}
