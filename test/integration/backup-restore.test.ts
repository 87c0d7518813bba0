import { randomUUID } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buffer } from "node:stream/consumers";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ArchiveWriter, CorruptArchiveError, readArchive } from "../../src/modules/backups/archive.js";
import {
  type BackupManifest,
  createBackup,
  NewerBackupError,
  RestoreTargetNotEmptyError,
  restoreBackup,
} from "../../src/modules/backups/backup.service.js";
import { migrationsUpTo, shippedMigrations } from "../../src/modules/backups/migration-level.js";
import { openStorage } from "../../src/platform/storage/index.js";
import { bearer, login, type Session, signUpAndLogin } from "../helpers/auth.js";
import {
  appliedMigrationCount,
  createEmptyTarget,
  everyRow,
  type RestoreTarget,
  startAppOn,
} from "../helpers/backups.js";
import { pngOf, upload } from "../helpers/files.js";
import { ledgerInvariants } from "../helpers/ledger.js";
import { waitFor } from "../helpers/process.js";
import { createTestApp, type TestApp } from "../helpers/test-app.js";

const ADMIN = { email: "backup-admin@example.com", password: "AdminPass-123456" };
let t: TestApp;
let admin: string;
let workDir: string;
const targets: RestoreTarget[] = [];
const uploaded = new Map<number, Buffer>();
let alice: Session;
let bob: Session;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), "kaira-backups-"));
  t = await createTestApp({ ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password });
  admin = (await login(t.app, ADMIN.email, ADMIN.password)).json().access_token;
  await populate();
}, 120_000);
afterAll(async () => {
  for (const target of targets) await target.drop();
  await t.close();
  await rm(workDir, { recursive: true, force: true });
});

const deps = () => ({ database: t.db.database, storage: openStorage(t.config) });

async function emptyTarget() {
  const target = await createEmptyTarget();
  targets.push(target);
  return target;
}

const restoreInto = (target: RestoreTarget, file: string, options = {}) =>
  restoreBackup(
    {
      database: target.database,
      storage: openStorage({ dataDir: target.dataDir }),
      filesDir: join(target.dataDir, "files"),
    },
    file,
    options,
  );

const mint = (userId: number, amount: number) =>
  t.app.inject({
    method: "POST",
    url: "/api/v1/admin/credits",
    headers: bearer(admin),
    payload: { user_id: userId, amount, memo: "opening balance" },
  });
const transfer = (from: Session, to: Session, amount: number) =>
  t.app.inject({
    method: "POST",
    url: "/api/v1/transfers",
    headers: { ...bearer(from.access), "idempotency-key": randomUUID() },
    payload: { to_user_id: to.id, amount, memo: "thanks" },
  });
const post = (author: Session, title: string, attachmentIds: number[] = []) =>
  t.app.inject({
    method: "POST",
    url: "/api/v1/posts",
    headers: bearer(author.access),
    payload: {
      title,
      content: `${title}\nwith a second line and "quotes" \\ and ünïcode`,
      tags: ["backup"],
      attachment_ids: attachmentIds,
    },
  });

/** Users, sessions (one refreshed, so a spent token exists), credits, transfers, files with a thumbnail, posts and their events. */
async function populate() {
  alice = await signUpAndLogin(t.app);
  bob = await signUpAndLogin(t.app);
  const refreshed = await t.app.inject({
    method: "POST",
    url: "/api/v1/auth/refresh",
    payload: { refresh_token: bob.refresh },
  });
  expect(refreshed.statusCode).toBe(200);
  expect((await mint(alice.id, 10_000)).statusCode).toBe(201);
  expect((await mint(bob.id, 500)).statusCode).toBe(201);
  for (const amount of [100, 250, 7]) expect((await transfer(alice, bob, amount)).statusCode).toBe(201);
  expect((await transfer(bob, alice, 42)).statusCode).toBe(201);

  const image = await pngOf(64, 48);
  const note = Buffer.from("plain text attachment\n");
  const ids: number[] = [];
  for (const [name, bytes] of [
    ["photo.png", image],
    ["note.txt", note],
  ] as const) {
    const res = await upload(t.app, alice.access, name, bytes);
    expect(res.statusCode).toBe(201);
    ids.push(res.json().id);
    uploaded.set(res.json().id, bytes);
  }
  expect((await post(alice, "with attachments", ids)).statusCode).toBe(201);
  for (let i = 0; i < 5; i++) expect((await post(i % 2 ? bob : alice, `post ${i}`)).statusCode).toBe(201);
  // The worker's thumbnail is part of what a backup must carry.
  await waitFor(
    async () =>
      (await t.app.inject({ url: `/api/v1/files/${ids[0]}/thumbnail`, headers: bearer(alice.access) }))
        .statusCode === 200,
    30_000,
    "the thumbnail",
  );
}

async function quiesce() {
  await waitFor(
    async () => {
      const counts = await t.jobs.counts();
      const { rows } = (await t.db.database.db.execute(
        sql`select count(*) as n from outbox_events where published_at is null`,
      )) as unknown as { rows: { n: string | number }[] };
      // A scheduled job always waits delayed for its next run (BullMQ), so only waiting and active count.
      return counts.waiting + counts.active === 0 && Number(rows[0]?.n) === 0;
    },
    30_000,
    "jobs and events to settle",
  );
}

describe("kaira backup and restore", { timeout: 180_000 }, () => {
  it("restores every row and every stored byte exactly, and Kaira runs on the restored copy", async () => {
    await quiesce();
    const before = await everyRow(t.db.database);
    const file = join(workDir, "quiet.tar.gz");
    const manifest = await createBackup(deps(), file);

    expect(manifest.database.migration_level).toBe(shippedMigrations().length);
    expect(manifest.files.count).toBe(3); // two uploads and one thumbnail
    for (const table of manifest.database.tables) expect(table.rows).toBe(before[table.name]?.length);
    expect(Object.keys(manifest.members)).toEqual(
      expect.arrayContaining(["database/users.ndjson", "database/ledger_entries.ndjson"]),
    );
    for (const digest of Object.values(manifest.members)) expect(digest.sha256).toMatch(/^[0-9a-f]{64}$/);

    const target = await emptyTarget();
    const result = await restoreInto(target, file);
    expect(result.verified).toBe(true);
    expect(await everyRow(target.database)).toEqual(before);
    expect(await ledgerInvariants(target.database)).toMatchObject({
      usersWhoseBalanceIsNotTheirLedger: 0,
      unbalancedTransfers: 0,
      negativeBalances: 0,
    });

    const restored = await startAppOn(t.config, target.database, target.dataDir);
    try {
      // Passwords, sessions and the refresh-token families came along.
      const relogin = await login(restored, alice.email, alice.password);
      expect(relogin.statusCode).toBe(200);
      const me = await restored.inject({
        url: "/api/v1/users/me",
        headers: bearer(relogin.json().access_token),
      });
      expect(me.json().balance).toBe(10_000 - 357 + 42);
      const refreshed = await restored.inject({
        method: "POST",
        url: "/api/v1/auth/refresh",
        payload: { refresh_token: alice.refresh },
      });
      expect(refreshed.statusCode).toBe(200);
      for (const [id, bytes] of uploaded) {
        const download = await restored.inject({ url: `/api/v1/files/${id}`, headers: bearer(alice.access) });
        expect(download.statusCode).toBe(200);
        expect(download.rawPayload.equals(bytes)).toBe(true);
      }
      const [imageId] = uploaded.keys();
      const thumbnail = await restored.inject({
        url: `/api/v1/files/${imageId}/thumbnail`,
        headers: bearer(alice.access),
      });
      expect(thumbnail.statusCode).toBe(200);
      // New rows continue above the restored ids: the sequences came along too.
      const created = await restored.inject({
        method: "POST",
        url: "/api/v1/posts",
        headers: bearer(relogin.json().access_token),
        payload: { title: "after restore", content: "x" },
      });
      expect(created.statusCode).toBe(201);
    } finally {
      await restored.close();
    }
  });

  it("takes a consistent snapshot while writes continue, without holding them up", async () => {
    let stop = false;
    let completed = 0;
    let failed = 0;
    const completedAt: number[] = [];
    const writer = (async () => {
      for (let i = 0; !stop; i++) {
        const res = i % 2 ? await transfer(alice, bob, 1) : await post(bob, `live ${i}`);
        if (res.statusCode === 201) {
          completed += 1;
          completedAt.push(Date.now());
        } else failed += 1;
      }
    })();
    await waitFor(async () => completed >= 10, 30_000, "writes to start");

    const file = join(workDir, "live.tar.gz");
    const started = Date.now();
    const manifest = await createBackup(deps(), file);
    const ended = Date.now();
    await waitFor(async () => completedAt.some((at) => at > ended), 30_000, "a write after the backup");
    stop = true;
    await writer;
    expect(failed).toBe(0);
    // Writes went on while the backup ran.
    expect(completedAt.filter((at) => at >= started && at <= ended).length).toBeGreaterThan(0);

    const target = await emptyTarget();
    await restoreInto(target, file);
    const restoredRows = await everyRow(target.database);
    for (const table of manifest.database.tables) expect(restoredRows[table.name]?.length).toBe(table.rows);
    // One snapshot: every transfer has both ledger entries and every balance is its ledger's sum.
    expect(await ledgerInvariants(target.database)).toMatchObject({
      usersWhoseBalanceIsNotTheirLedger: 0,
      unbalancedTransfers: 0,
      negativeBalances: 0,
    });
    // The sequential writer's rows form a prefix: the snapshot holds exactly those committed before it.
    const ids = async (table: string, database = target.database) =>
      (
        (await database.db.execute(sql`select id from ${sql.identifier(table)} order by id`)) as unknown as {
          rows: { id: number }[];
        }
      ).rows.map((r) => Number(r.id));
    for (const table of ["transfers", "posts"]) {
      const restored = await ids(table);
      const last = restored.at(-1) ?? 0;
      expect(restored).toEqual((await ids(table, t.db.database)).filter((id) => id <= last));
    }
    const restored = await startAppOn(t.config, target.database, target.dataDir);
    try {
      expect((await login(restored, bob.email, bob.password)).statusCode).toBe(200);
    } finally {
      await restored.close();
    }
  });

  it("refuses a target that holds data, unless forced", async () => {
    const file = join(workDir, "quiet.tar.gz");
    const target = await emptyTarget();
    await restoreInto(target, file);
    await expect(restoreInto(target, file)).rejects.toBeInstanceOf(RestoreTargetNotEmptyError);
    await expect(restoreInto(target, file)).rejects.toThrow(/not empty.*--force/);

    const warnings: string[] = [];
    await restoreInto(target, file, { force: true, onWarning: (m: string) => warnings.push(m) });
    expect(warnings.join("\n")).toContain("replacing the existing database");
    const manifest = (await restoreInto(target, file, { force: true })).manifest;
    const users = manifest.database.tables.find((table) => table.name === "users");
    expect((await everyRow(target.database)).users?.length).toBe(users?.rows);
  });

  it("refuses a damaged archive with a clear message", async () => {
    const good = await readFile(join(workDir, "quiet.tar.gz"));
    const truncated = join(workDir, "truncated.tar.gz");
    await writeFile(truncated, good.subarray(0, Math.floor(good.length / 2)));
    const target = await emptyTarget();
    await expect(restoreInto(target, truncated)).rejects.toBeInstanceOf(CorruptArchiveError);

    // Well-formed gzip and tar, but a member altered after the manifest was written.
    const altered = join(workDir, "altered.tar.gz");
    await rewriteArchive(join(workDir, "quiet.tar.gz"), altered, (name, bytes) =>
      name === "database/users.ndjson"
        ? Buffer.from(bytes.toString().replace("@example.com", "@evil.example"))
        : bytes,
    );
    await expect(restoreInto(target, altered)).rejects.toThrow(
      /damaged or incomplete: database\/users\.ndjson does not match its SHA-256/,
    );
    expect(await appliedMigrationCount(target.database).catch(() => 0)).toBe(0); // nothing was written
  });

  it("refuses a backup from a newer schema, unless forced", async () => {
    const newer = join(workDir, "newer.tar.gz");
    await rewriteArchive(
      join(workDir, "quiet.tar.gz"),
      newer,
      (_name, bytes) => bytes,
      (manifest) => {
        manifest.database.migrations.push({ hash: "f".repeat(64), createdAt: 4_102_444_800_000 });
        manifest.database.migration_level += 1;
      },
    );
    const target = await emptyTarget();
    await expect(restoreInto(target, newer)).rejects.toBeInstanceOf(NewerBackupError);
    await expect(restoreInto(target, newer)).rejects.toThrow(
      /newer Kaira: the backup is at migration level \d+, this Kaira ships \d+/,
    );
    const forced = await restoreInto(target, newer, { force: true });
    expect((await everyRow(target.database)).users?.length).toBe(
      forced.manifest.database.tables.find((table) => table.name === "users")?.rows,
    );
  });

  it("applies newer migrations after restoring a backup taken at an older schema", async () => {
    const shipped = shippedMigrations().length;
    const old = await emptyTarget();
    const migrations = await migrationsUpTo(shipped - 1);
    try {
      await old.database.migrate({ migrationsFolder: migrations.folder });
    } finally {
      await migrations.remove();
    }
    await old.database.db.execute(
      sql`insert into users (email, username, password_hash) values ('old@example.com', 'old_timer', 'x')`,
    );
    const file = join(workDir, "old.tar.gz");
    const manifest = await createBackup(
      { database: old.database, storage: openStorage({ dataDir: old.dataDir }) },
      file,
    );
    expect(manifest.database.migration_level).toBe(shipped - 1);

    const target = await emptyTarget();
    const result = await restoreInto(target, file);
    expect(result.upgradedFrom).toBe(shipped - 1);
    expect(await appliedMigrationCount(target.database)).toBe(shipped);
    const users = (await everyRow(target.database)).users ?? [];
    expect(users.some((row) => row.includes("old@example.com"))).toBe(true);
  });
});

/** Copies an archive, changing members' bytes and/or the manifest; digests are recomputed only for manifest edits. */
async function rewriteArchive(
  from: string,
  to: string,
  changeMember: (name: string, bytes: Buffer) => Buffer,
  changeManifest?: (manifest: BackupManifest) => void,
) {
  const members: [string, Buffer][] = [];
  await readArchive(from, async (name, _size, body) => {
    members.push([name, await buffer(body)]);
  });
  const writer = new ArchiveWriter(to);
  let manifest: BackupManifest | undefined;
  for (const [name, bytes] of members) {
    if (name === "manifest.json") {
      manifest = JSON.parse(bytes.toString()) as BackupManifest;
      continue;
    }
    await writer.addBuffer(name, changeMember(name, bytes));
  }
  if (!manifest) throw new Error("no manifest");
  if (changeManifest) {
    changeManifest(manifest);
    manifest.members = { ...writer.members };
  }
  await writer.addBuffer("manifest.json", Buffer.from(JSON.stringify(manifest)));
  await writer.finish();
}
