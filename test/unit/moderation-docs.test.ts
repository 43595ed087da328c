import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  authorityText,
  COMMAND_ISSUERS,
  ErrorCodeSchema,
  eventNames,
  issuersText,
  MODERATION_AUTHORITY,
  type ModerationAction,
  type RoleTableNamespace,
} from "../../src/protocol";

const PROTOCOL = readFileSync(join(import.meta.dirname, "../../docs/protocol.md"), "utf8");

/** The rows of a namespace's command table: action and "who" cell. */
function documentedCommands(namespace: RoleTableNamespace): Map<string, string> {
  const start = PROTOCOL.indexOf(`## Namespace \`${namespace}\``);
  expect(start, namespace).toBeGreaterThan(0);
  const section = PROTOCOL.slice(start);
  const commands = section.slice(section.indexOf("### Commands"), section.indexOf("### Events"));
  const rows = commands.split("\n").filter((line) => /^\| `/.test(line));
  return new Map(
    rows.map((row) => {
      // Cells split at unescaped bars (`\|` stands inside a cell).
      const cells = row.split(/(?<!\\)\|/).map((cell) => cell.trim());
      return [cells[1]!.replaceAll("`", ""), cells[3]!];
    }),
  );
}

describe("docs/protocol.md, namespace moderation", () => {
  it("documents every command, with the 'who' the authority table renders", () => {
    const documented = documentedCommands("moderation");
    const actions = Object.keys(MODERATION_AUTHORITY) as ModerationAction[];
    expect([...documented.keys()].sort()).toEqual([...actions].sort());
    for (const action of actions) expect(documented.get(action), action).toBe(authorityText(action));
  });

  it("documents every command of the other role-table namespaces, with the 'who' of COMMAND_ISSUERS", () => {
    for (const [namespace, table] of Object.entries(COMMAND_ISSUERS)) {
      if (namespace === "moderation") continue;
      const documented = documentedCommands(namespace as RoleTableNamespace);
      expect([...documented.keys()].sort(), namespace).toEqual(Object.keys(table).sort());
      // The cell is the rendered roles, optionally followed by a qualifier in parentheses.
      for (const [action, roles] of Object.entries(table)) {
        const cell = documented.get(action) ?? "";
        expect(cell.replace(/ \(.*\)$/, ""), `${namespace}.${action}: ${cell}`).toBe(issuersText(roles));
      }
    }
  });

  it("documents every event of the role-table namespaces in their own section, and every error code", () => {
    for (const namespace of Object.keys(COMMAND_ISSUERS) as RoleTableNamespace[]) {
      const start = PROTOCOL.indexOf(`## Namespace \`${namespace}\``);
      const section = PROTOCOL.slice(start, PROTOCOL.indexOf("\n## ", start + 1));
      for (const event of eventNames(namespace)) {
        expect(section, `${namespace}.${event}`).toMatch(new RegExp(`\`${event}( \\{|\`)`));
      }
    }
    // `sfu_unavailable` is the SFU pool's answer to the room (a room without a node stays peer to peer): no client
    // receives it. Codes may follow their HTTP status inside the quotes, or across a line break.
    for (const code of ErrorCodeSchema.options.filter((c) => c !== "sfu_unavailable")) {
      expect(PROTOCOL, code).toMatch(new RegExp(`(\`|\`\\d{3} |\\d{3}\\s)${code}\``));
    }
  });

  it("documents every moderation event and the refusals a start can meet", () => {
    for (const event of ["in_waiting_room", "waiting_room_changed", "room_state", "role_updated", "ban_list_changed"]) {
      expect(PROTOCOL).toContain(`\`${event} {`);
    }
    for (const text of ["`logged {", "`log {", "banned_from_room", "room_locked", "`rejected`", "4002"]) {
      expect(PROTOCOL).toContain(text);
    }
  });
});
