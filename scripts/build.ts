import { build as esbuild } from "esbuild";
import { mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..");
export const workerBundle = join(root, "dist", "worker.js");

/** Bundles the worker (and its Durable Objects) into one ES module for plain workerd. */
export async function buildWorker(): Promise<string> {
  await mkdir(dirname(workerBundle), { recursive: true });
  await esbuild({
    entryPoints: [join(root, "src", "index.ts")],
    outfile: workerBundle,
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["module", "main"],
    external: ["cloudflare:*", "node:*"],
    minify: false,
    sourcemap: false,
    logLevel: "warning",
  });
  return workerBundle;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(`built ${await buildWorker()}`);
}
