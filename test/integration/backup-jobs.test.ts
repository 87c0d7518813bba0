import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inspectBackup } from "../../src/modules/backups/backup.service.js";
import { bearer, login, signUpAndLogin } from "../helpers/auth.js";
import { waitFor } from "../helpers/process.js";
import { createTestApp, type TestApp } from "../helpers/test-app.js";

const ADMIN = { email: "backup-jobs-admin@example.com", password: "AdminPass-123456" };
let t: TestApp;
let admin: string;

beforeAll(async () => {
  // Every minute, keeping one: the schedule's first run is due at start-up.
  t = await createTestApp({
    ADMIN_EMAIL: ADMIN.email,
    ADMIN_PASSWORD: ADMIN.password,
    BACKUP_SCHEDULE: "* * * * *",
    BACKUP_KEEP: "1",
  });
  admin = (await login(t.app, ADMIN.email, ADMIN.password)).json().access_token;
});
afterAll(() => t.close());

const listBackups = async () =>
  (await t.app.inject({ url: "/api/v1/admin/backups", headers: bearer(admin) })).json().items as {
    name: string;
    size: number;
  }[];

describe("backups as jobs", { timeout: 120_000 }, () => {
  it("runs the scheduled backup, starts one on an admin's request, keeps BACKUP_KEEP and streams it", async () => {
    const scheduled = await waitFor(async () => (await listBackups())[0], 90_000, "the scheduled backup");
    expect(scheduled.name).toMatch(/^kaira-.*\.tar\.gz$/);

    const started = await t.app.inject({
      method: "POST",
      url: "/api/v1/admin/backups",
      headers: bearer(admin),
    });
    expect(started.statusCode).toBe(202);
    const { name, job } = started.json();
    expect(job).toBe("backup.create");
    await waitFor(
      async () => (await listBackups()).some((b) => b.name === name),
      60_000,
      "the requested backup",
    );
    // BACKUP_KEEP=1: the older archive is gone once the newer one is complete.
    await waitFor(async () => (await listBackups()).length === 1, 10_000, "pruning");

    const download = await t.app.inject({ url: `/api/v1/admin/backups/${name}`, headers: bearer(admin) });
    expect(download.statusCode).toBe(200);
    expect(download.headers["content-type"]).toBe("application/gzip");
    expect(download.headers["content-disposition"]).toBe(`attachment; filename="${name}"`);
    const copy = join(tmpdir(), `kaira-download-${randomBytes(4).toString("hex")}.tar.gz`);
    await writeFile(copy, download.rawPayload);
    const manifest = await inspectBackup(copy);
    expect(manifest.database.tables.find((table) => table.name === "users")?.rows).toBeGreaterThan(0);
  });

  it("is for admins only and serves only archive names", async () => {
    const user = await signUpAndLogin(t.app);
    for (const request of [
      { method: "GET" as const, url: "/api/v1/admin/backups" },
      { method: "POST" as const, url: "/api/v1/admin/backups" },
    ]) {
      expect((await t.app.inject({ ...request })).statusCode).toBe(401);
      expect((await t.app.inject({ ...request, headers: bearer(user.access) })).statusCode).toBe(403);
    }
    for (const name of [
      "..%2F..%2Fetc%2Fpasswd",
      ".kaira-x.tar.gz.partial",
      "kaira-2026-01-01T00-00-00-000Z.tar.gz",
    ]) {
      const res = await t.app.inject({ url: `/api/v1/admin/backups/${name}`, headers: bearer(admin) });
      expect(res.statusCode).toBe(404);
      expect(res.json().code).toBe("backup_not_found");
    }
  });
});

describe("a backup that cannot be written", { timeout: 240_000 }, () => {
  it("ends as a failed job", async () => {
    const blocker = join(tmpdir(), `kaira-not-a-dir-${randomBytes(4).toString("hex")}`);
    await writeFile(blocker, "a file where the backup directory should be");
    const failing = await createTestApp({
      ADMIN_EMAIL: ADMIN.email,
      ADMIN_PASSWORD: ADMIN.password,
      BACKUP_DIR: join(blocker, "backups"),
      JOB_ATTEMPTS: "1",
    });
    try {
      const token = (await login(failing.app, ADMIN.email, ADMIN.password)).json().access_token;
      const started = await failing.app.inject({
        method: "POST",
        url: "/api/v1/admin/backups",
        headers: bearer(token),
      });
      expect(started.statusCode).toBe(202);
      const failed = await waitFor(
        async () => {
          const res = await failing.app.inject({
            url: "/api/v1/admin/jobs?state=failed",
            headers: bearer(token),
          });
          return (res.json().items as { name: string; error: string }[]).find(
            (j) => j.name === "backup.create",
          );
        },
        150_000,
        "the failed backup job",
      );
      expect(failed.error).toMatch(/ENOTDIR|not a directory/i);
    } finally {
      await failing.close();
    }
  });
});
