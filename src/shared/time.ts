/** Stored milliseconds as RFC 3339, null staying null. */
export const isoOrNull = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
