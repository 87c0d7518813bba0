#!/usr/bin/env node
// The `kaira` command. Which code runs:
// - a checkout (src/ present) runs the TypeScript sources through tsx, so an edit is live at
//   the next start and `npm install && npm start` needs no build;
// - in production (NODE_ENV=production) it runs the compiled dist/ when there is one, and
//   refuses a dist/ that is older than src/ rather than silently serving stale code;
// - an image without src/ (the Dockerfile's) runs dist/.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const sources = join(root, "src");
const compiled = join(root, "dist", "cli", "main.js");

/** NODE_ENV from the environment, else from .env (which config.ts reads the same way). */
function nodeEnv() {
  if (process.env.NODE_ENV) return process.env.NODE_ENV.trim();
  try {
    const line = readFileSync(".env", "utf8")
      .split("\n")
      .find((l) => /^\s*NODE_ENV\s*=/.test(l));
    return line
      ?.split("=")[1]
      ?.trim()
      .replace(/^["']|["']$/g, "");
  } catch {
    return undefined;
  }
}

function newestChange(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestChange(path) : statSync(path).mtimeMs);
  }
  return newest;
}

const hasSources = existsSync(join(sources, "cli", "main.ts"));
const useCompiled = !hasSources || (nodeEnv() === "production" && existsSync(compiled));
if (useCompiled) {
  if (hasSources && newestChange(sources) > statSync(compiled).mtimeMs) {
    console.error(
      "dist/ is older than src/: run `npm run build` again, or unset NODE_ENV=production to run the sources.",
    );
    process.exit(2);
  }
  await import(compiled);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  await import("../src/cli/main.ts");
}
