/** Delays before the client's reconnect attempts after a drop; the last repeats. Tests derive barriers from it. */
export const RECONNECT_BACKOFF_MS = [500, 1000, 2000, 4000, 8000] as const;
