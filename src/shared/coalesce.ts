/**
 * One call for many: items asked for while a call is in flight wait and go together in the next one, so under load
 * (a join storm) a round trip to another object serves many requests, and alone a request waits only for the end
 * of the current turn.
 */
export function coalesced<I, O>(many: (items: I[]) => Promise<O[]>): (item: I) => Promise<O> {
  let queued: { item: I; resolve: (o: O) => void; reject: (e: unknown) => void }[] = [];
  let inFlight = false;
  const flush = async () => {
    while (queued.length > 0) {
      const batch = queued;
      queued = [];
      try {
        const results = await many(batch.map((q) => q.item));
        for (const [i, q] of batch.entries()) q.resolve(results[i]!);
      } catch (error) {
        for (const q of batch) q.reject(error);
      }
    }
    inFlight = false;
  };
  return (item) =>
    new Promise<O>((resolve, reject) => {
      queued.push({ item, resolve, reject });
      // The first call waits for the rest of this turn: a participant's several connections go together.
      if (!inFlight) {
        inFlight = true;
        queueMicrotask(() => void flush());
      }
    });
}
