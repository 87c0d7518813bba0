import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";

const SCRIPT = join(import.meta.dirname, "../../scripts/check-architecture.mjs");
const roots: string[] = [];

/** A project tree with these files under src/. */
function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), "kaira-architecture-"));
  roots.push(root);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, "src", path)), { recursive: true });
    writeFileSync(join(root, "src", path), text);
  }
  return root;
}

function check(root: string) {
  const run = spawnSync(process.execPath, [SCRIPT, root], { encoding: "utf8" });
  return { status: run.status, output: run.stdout + run.stderr };
}

afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

describe("scripts/check-architecture.mjs", () => {
  it("passes a layered tree: drivers in platform, modules depending on shared and platform", () => {
    const root = tree({
      "platform/database.ts": `import pg from "pg";\nexport const db = pg;\n`,
      "shared/errors.ts": `export class DomainError extends Error {}\n`,
      "modules/posts/posts.service.ts": `import { DomainError } from "../../shared/errors.js";\nimport type { db } from "../../platform/database.js";\n`,
      "modules/users/users.service.ts": `import "../posts/posts.service.js";\n`,
      // Not imports: a comment, a string and a template literal that merely contain the words.
      "http/server.ts": `// import { x } from "../modules/posts/posts.service.js";\nconst a = "import sharp from 'sharp'";\nconst b = \`\${a} import("ioredis")\`;\nexport { a, b };\n`,
    });
    expect(check(root)).toEqual({ status: 0, output: "Architecture check passed.\n" });
  });

  it("fails naming a driver imported outside platform, a generic layer importing a module, and each cycle", () => {
    const root = tree({
      "modules/files/thumbnail.job.ts": `import sharp from "sharp";\nimport { b } from "../users/users.service.js";\nexport const a = sharp;\n`,
      "modules/users/users.service.ts": `export const b = 1;\nexport type { a } from "../files/thumbnail.job.js";\n`,
      "http/authentication.ts": `import type { b } from "../modules/users/users.service.js";\n`,
      "modules/auth/auth.routes.ts": `import "../../http/authentication.js";\n`,
    });
    const { status, output } = check(root);
    expect(status).toBe(1);
    expect(output).toContain(
      "src/modules/files/thumbnail.job.ts:1: the driver package sharp is imported outside src/platform",
    );
    expect(output).toContain("src/http/authentication.ts:1: src/http must not import from src/modules");
    expect(output).toContain(
      "import cycle between feature modules: modules/files → modules/users → modules/files",
    );
    expect(output).toContain("import cycle between top-level parts of src: http → modules → http");
    expect(output).toContain(
      "modules → http: src/modules/auth/auth.routes.ts:1 → src/http/authentication.ts",
    );
  });
});
