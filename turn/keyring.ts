/**
 * The TURN secret keyring's rules, apart from where it is stored. A secret is `staged` (known to coturn, not yet
 * used for signing), `active` (signs new credentials; exactly one at a time), `retiring` (no longer signs; its
 * credentials are still valid at coturn until they expire) or `removed` (its value is erased).
 */
export type SecretState = "staged" | "active" | "retiring" | "removed";
export type KeyringAction = "activate" | "retire" | "remove";

export type Transition =
  | { ok: true; changes: { id: string; state: SecretState }[] }
  | { ok: false; code: "not_found" | "conflict"; message: string };

export function transition(
  secrets: readonly { id: string; state: SecretState }[],
  action: KeyringAction,
  id: string,
): Transition {
  const target = secrets.find((s) => s.id === id);
  if (!target || target.state === "removed") return { ok: false, code: "not_found", message: "no such secret" };
  const active = secrets.find((s) => s.state === "active");
  switch (action) {
    case "activate":
      if (target.state === "active") return { ok: true, changes: [] };
      return {
        ok: true,
        changes: [...(active ? [{ id: active.id, state: "retiring" as const }] : []), { id, state: "active" }],
      };
    case "retire":
      if (target.state !== "active")
        return { ok: false, code: "conflict", message: `a ${target.state} secret cannot retire` };
      return { ok: true, changes: [{ id, state: "retiring" }] };
    case "remove":
      if (target.state === "active") {
        return {
          ok: false,
          code: "conflict",
          message: "activate another secret (or retire this one) before removing it",
        };
      }
      return { ok: true, changes: [{ id, state: "removed" }] };
  }
}
