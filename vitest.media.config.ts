import { defineConfig } from "vitest/config";

// Media through real Janus, coturn, workerd and Chromium, inside the private network namespace that
// `npm run test:media` (scripts/in-netns.ts) creates; serial and generous: liveness, not speed.
export default defineConfig({
  test: {
    include: ["test/media/**/*.test.ts"],
    environment: "node",
    globalSetup: ["test/media/setup.ts"],
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 180_000,
  },
});
