#!/usr/bin/env node
/**
 * Writes the contract's committed artefacts from the routes:
 *   openapi/v1.json                       the API v1 document (`kaira openapi`)
 *   clients/typescript/src/schema.d.ts    its TypeScript types (openapi-typescript)
 *
 * Usage:
 *   node scripts/generate-client.mjs            write both (npm run openapi:snapshot)
 *   node scripts/generate-client.mjs --check    write them to a temporary folder and fail
 *                                               when they differ from the committed files
 *
 * openapi-typescript is run through npx, pinned: it needs TypeScript 5 as a peer, and the
 * project itself builds with TypeScript 7.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const OPENAPI_TYPESCRIPT = "openapi-typescript@7.13.0";
const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const committed = {
  document: join(root, "openapi/v1.json"),
  types: join(root, "clients/typescript/src/schema.d.ts"),
};
const check = process.argv.includes("--check");
const scratch = check ? mkdtempSync(join(tmpdir(), "kaira-contract-")) : undefined;
const target = scratch
  ? { document: join(scratch, "v1.json"), types: join(scratch, "schema.d.ts") }
  : committed;

// The document must depend on the routes only, never on this machine's settings (limits
// appear in descriptions): no environment beyond what runs node, and a working directory
// with no .env file in it.
const bare = mkdtempSync(join(tmpdir(), "kaira-openapi-"));
try {
  execFileSync(process.execPath, [join(root, "bin/kaira.js"), "openapi", "--output", target.document], {
    cwd: bare,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? bare },
    stdio: ["ignore", "ignore", "inherit"],
  });
} finally {
  rmSync(bare, { recursive: true, force: true });
}
execFileSync("npx", ["--yes", OPENAPI_TYPESCRIPT, target.document, "--output", target.types], {
  cwd: root,
  stdio: ["ignore", "ignore", "inherit"],
});

if (!check) {
  console.log(`wrote ${committed.document} and ${committed.types}`);
} else {
  const stale = Object.entries(committed).filter(
    ([name, path]) => readFileSync(path, "utf8") !== readFileSync(target[name], "utf8"),
  );
  rmSync(scratch, { recursive: true, force: true });
  if (stale.length > 0) {
    console.error(
      `The committed contract is out of date: ${stale.map(([, path]) => path.slice(root.length + 1)).join(", ")}.\n` +
        "Review the API change (docs/versioning.md), then run `npm run openapi:snapshot` and commit the result.",
    );
    process.exit(1);
  }
  console.log("openapi/v1.json and clients/typescript/src/schema.d.ts match the routes");
}
