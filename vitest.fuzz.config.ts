import { defineConfig } from "vitest/config";
import { workersPool } from "./vitest.workers.config";

/**
 * The fuzz tier: property-based frames and REST bodies against the real worker and room objects, with the
 * in-workerd tier's bindings except for what a flood of generated input needs.
 */
export default defineConfig({
  plugins: [
    workersPool({
      // Tens of thousands of frames per connection: the per-connection bucket must never refuse one.
      RATE_LIMIT_PER_SECOND: "10000000",
      RATE_LIMIT_BURST: "10000000",
      // Generated chat messages come in floods too: the slow-down is tested in the in-workerd tier.
      CHAT_BURST: "10000000",
      // Generated valid bodies create rooms; the per-user cap is not what is fuzzed here.
      MAX_ROOMS_PER_USER: "100000",
      // No timer may fire during a run (TURN refresh, resumption expiry): stored state must change only by frames.
      TURN_TTL_SECONDS: "3600",
      SESSION_TOKEN_TTL_SECONDS: "3600",
      RESUMPTION_WINDOW_SECONDS: "3600",
      TICKET_TTL_SECONDS: "600",
      // Reproducible by default; `FUZZ_SEED=… npm run test:fuzz` replays another run, the sizes scale a run.
      FUZZ_SEED: process.env.FUZZ_SEED ?? "",
      FUZZ_FRAMES: process.env.FUZZ_FRAMES ?? "",
      FUZZ_REQUESTS: process.env.FUZZ_REQUESTS ?? "",
    }),
  ],
  test: {
    include: ["test/fuzz/**/*.test.ts"],
    // One file at a time: the frames run measures throughput, and the runtime resets every object when a test
    // ends (isolated storage), which would rebuild the other file's room mid-run.
    fileParallelism: false,
    testTimeout: 300_000,
  },
});
