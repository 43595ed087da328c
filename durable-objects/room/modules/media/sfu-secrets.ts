import { logFailure } from "../../../../src/shared/log";
import { loadSealer, resealAll, SEALED_PURPOSE, type StoredSecret } from "../../../../src/shared/sealing";
import type { MediaBase } from "./sfu-store";

/** Where the room keeps its node's api_secret: the pin, and the Janus session made with it. */
const STORED = [
  {
    select: "SELECT api_secret FROM media_sfu WHERE api_secret IS NOT NULL",
    update: "UPDATE media_sfu SET api_secret = ? WHERE api_secret = ? RETURNING node_id",
  },
  {
    select: "SELECT api_secret FROM media_janus WHERE api_secret IS NOT NULL",
    update: "UPDATE media_janus SET api_secret = ? WHERE api_secret = ? RETURNING session_id",
  },
] as const;

/**
 * The node api_secret the room keeps (`media_sfu.api_secret`, `media_janus.api_secret`), sealed as the SFU pool
 * hands it over in the pin (src/shared/sealing.ts, purpose `janus.api_secret`). The SQL paths store and read the
 * sealed value; it is opened only in the asynchronous Janus paths, right before the requests that need it.
 * Re-sealed (plaintext of older rooms, values under an older key) when the module loads, when a pin is kept, and on
 * `reseal()` for a key rotation.
 */
export class SfuSecrets {
  /** Values re-sealed in the background that no `reseal()` has reported yet. */
  private unreported = 0;
  private running: Promise<unknown> = Promise.resolve();

  constructor(private readonly ctx: MediaBase) {}

  /** The plaintext of a stored api_secret (null: the node has none); throws naming a key id it cannot open. */
  async open(stored: string | null): Promise<string | null> {
    if (stored === null) return null;
    return (await this.sealer()).open(stored, SEALED_PURPOSE.janusApiSecret);
  }

  /** Re-seals in the background what needs it: two small reads when nothing does, nothing without a key. */
  resealSoon(): void {
    this.run().then(
      (rewritten) => {
        this.unreported += rewritten;
      },
      (error: unknown) => logFailure("room: the stored SFU api_secret could not be re-sealed", error),
    );
  }

  /** Re-seals what needs it now; how many values were rewritten (those of the background runs included). */
  async reseal(): Promise<number> {
    const rewritten = await this.run();
    const total = rewritten + this.unreported;
    this.unreported = 0;
    return total;
  }

  private sealer() {
    return loadSealer(this.ctx.config.STATE_ENCRYPTION_KEY);
  }

  /** One run at a time, in order. */
  private run(): Promise<number> {
    const next = this.running.catch(() => undefined).then(() => this.resealStored());
    this.running = next;
    return next;
  }

  private async resealStored(): Promise<number> {
    const sealer = await this.sealer();
    if (!sealer.enabled) return 0;
    const secrets: StoredSecret[] = STORED.flatMap(({ select, update }) =>
      this.ctx.sql
        .exec<{ api_secret: string }>(select)
        .toArray()
        .map(({ api_secret }) => ({
          stored: api_secret,
          purpose: SEALED_PURPOSE.janusApiSecret,
          replace: (next: string) => this.ctx.sql.exec(update, next, api_secret).toArray().length > 0,
        })),
    );
    return resealAll(sealer, secrets);
  }
}
