import { defineConfig } from "vitest/config";

// Real workerd processes started by scripts/start.ts; serial, since two cores carry one server at a time well.
export default defineConfig({
  test: {
    include: ["test/integration/**/*.test.ts"],
    environment: "node",
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
