/**
 * `npm run lint` part two: lines of at most 120 characters in every tracked source file. Biome wraps code at that
 * width but leaves strings, comments and test names to us; this catches them.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

const LIMIT = 120;
const files = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], {
  encoding: "utf8",
})
  .split("\0")
  .filter((f) => /\.(ts|css|json)$/.test(f) && f !== "package-lock.json" && !f.endsWith(".generated.ts"));

const long = files.flatMap((file) => {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return []; // deleted in the work tree
  }
  return text.split("\n").flatMap((line, i) => (line.length > LIMIT ? [`${file}:${i + 1} (${line.length})`] : []));
});
if (long.length > 0) {
  console.error(`lines over ${LIMIT} characters:\n${long.join("\n")}`);
  process.exit(1);
}
console.log(`${files.length} files, no line over ${LIMIT} characters`);
