import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import { DataDirLockedError, lockDataDir } from "../../src/platform/database/data-dir-lock.js";

const freshDir = () => mkdtempSync(join(tmpdir(), "kaira-lock-"));

it("refuses a data directory held by a live process, naming it", () => {
  const dir = freshDir();
  writeFileSync(join(dir, "kaira.lock"), String(process.ppid)); // the parent is alive
  expect(() => lockDataDir(dir)).toThrow(DataDirLockedError);
  expect(() => lockDataDir(dir)).toThrow(/already open in process .*DATABASE_URL/);
});

it("takes over a lock left by a dead process and releases it", () => {
  const dir = freshDir();
  writeFileSync(join(dir, "kaira.lock"), "999999999");
  const unlock = lockDataDir(dir);
  unlock();
  expect(existsSync(join(dir, "kaira.lock"))).toBe(false);
});
