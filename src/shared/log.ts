/** An error's name and message only, bounded: never the payloads, tokens or SDP a caller may hold. */
export function errorText(error: unknown): string {
  const detail = error instanceof Error ? `${error.name}: ${error.message}` : "non-error thrown";
  return detail.slice(0, 300);
}

/** Logs a failure once, as `what: error`, for operators; `level` warn for what the system works around. */
export function logFailure(what: string, error: unknown, level: "error" | "warn" = "error"): void {
  console[level](`${what}: ${errorText(error)}`);
}
