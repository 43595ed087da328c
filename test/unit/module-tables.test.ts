import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const MODULES_DIR = join(import.meta.dirname, "../../durable-objects/room/modules");

/** Table names after SQL keywords (upper case in this code base, so prose in comments does not count). */
const tablesAfter = (keywords: string, text: string) =>
  new Set(
    [...text.matchAll(new RegExp(`\\b(?:${keywords})\\s+(?:IF NOT EXISTS\\s+)?([a-z_][a-z0-9_]*)`, "g"))].map(
      (m) => m[1]!,
    ),
  );

/** Each module's source, read as text: `modules/<namespace>.ts`, or every file of `modules/<namespace>/`. */
const modules = readdirSync(MODULES_DIR, { withFileTypes: true })
  .filter((entry) => entry.name !== "index.ts")
  .map((entry) => {
    const path = join(MODULES_DIR, entry.name);
    const files = entry.isDirectory() ? readdirSync(path).map((f) => join(path, f)) : [path];
    return { name: entry.name.replace(/\.ts$/, ""), source: files.map((f) => readFileSync(f, "utf8")).join("\n") };
  });

describe("module tables", () => {
  it("each module's SQL touches only the tables its own migrations create", () => {
    expect(modules.map((m) => m.name).sort()).toEqual([
      "automod",
      "breakout",
      "chat",
      "control",
      "feedback",
      "legal-vote",
      "media",
      "moderation",
      "polls",
      "timer",
      "turn",
    ]);
    const creators = new Map<string, string>();
    for (const module of modules) {
      const own = tablesAfter("CREATE TABLE", module.source);
      for (const table of own) {
        expect(creators.get(table), `${table} is created by two modules`).toBeUndefined();
        creators.set(table, module.name);
      }
      const touched = tablesAfter("FROM|INTO|UPDATE|JOIN|TABLE", module.source);
      expect(
        [...touched].filter((t) => !own.has(t)),
        `${module.name} reaches into other tables`,
      ).toEqual([]);
    }
    // The check sees the SQL it is meant to see.
    expect(creators.get("chat_messages")).toBe("chat");
    expect(creators.get("media_handles")).toBe("media");
  });
});
