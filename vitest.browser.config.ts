import { defineConfig } from "vitest/config";

// `npm run test:browser`: the web app and the console in a real Chromium (playwright-core with
// the system's browser; CHROMIUM_PATH, default /usr/bin/chromium). Kept out of `npm test`,
// which must run where no browser is installed.
export default defineConfig({
  test: {
    globalSetup: ["./test/helpers/global-setup.ts"],
    include: ["test/browser/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // One server and one browser for the whole file; the scenarios build on each other.
    fileParallelism: false,
  },
});
