import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { authorityText, MODERATION_AUTHORITY, type ModerationAction } from "../../src/protocol";

const PROTOCOL = readFileSync(join(import.meta.dirname, "../../docs/protocol.md"), "utf8");

/** The rows of the moderation namespace's command table: action and "who" cell. */
function documentedCommands(): Map<string, string> {
  const section = PROTOCOL.slice(PROTOCOL.indexOf("## Namespace `moderation`"));
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
    const documented = documentedCommands();
    const actions = Object.keys(MODERATION_AUTHORITY) as ModerationAction[];
    expect([...documented.keys()].sort()).toEqual([...actions].sort());
    for (const action of actions) expect(documented.get(action), action).toBe(authorityText(action));
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
