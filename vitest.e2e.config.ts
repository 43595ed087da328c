import { defineConfig } from "vitest/config";

// Real coturn, Redis, SQLite and Chromium next to a real workerd; serial and generous: liveness, not speed.
export default defineConfig({
  test: {
    include: ["test/e2e/**/*.test.ts"],
    environment: "node",
    globalSetup: ["test/e2e/setup.ts"],
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 180_000,
  },
});
