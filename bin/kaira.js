#!/usr/bin/env node
// The `kaira` command. A production image ships the compiled `dist/`; a fresh clone runs
// the TypeScript sources directly through tsx, so `npm install && npm start` needs no build.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const compiled = fileURLToPath(new URL("../dist/cli/main.js", import.meta.url));
if (existsSync(compiled)) {
  await import(compiled);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  await import("../src/cli/main.ts");
}
