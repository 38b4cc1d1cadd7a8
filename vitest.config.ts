import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "properties/**/*.test.ts", "scenarios/**/*.test.ts", "test/**/*.test.ts", "eslint/**/*.test.ts"],
    // Two cores on CI: threads beyond that only add noise.
    pool: "forks",
    maxWorkers: 2,
    // Bundles the `zhumq` command the real-process tests start (test/support/test-bin.ts).
    globalSetup: ["test/support/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
