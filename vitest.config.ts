import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    globalSetup: ["./test/helpers/global-setup.ts"],
    include: ["test/**/*.test.ts"],
    // The browser tests need Chromium: `npm run test:browser` runs them.
    exclude: ["test/browser/**", "**/node_modules/**"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    coverage: {
      provider: "v8",
      include: ["src/**/*.ts"],
      // Process entry points are exercised by test/e2e, which runs them as real child
      // processes; V8 coverage does not follow into those processes.
      exclude: ["src/main.ts", "src/cli/main.ts"],
      reporter: ["text-summary", "html"],
      thresholds: { lines: 85, statements: 85, functions: 85, branches: 75 },
    },
  },
});
