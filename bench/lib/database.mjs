// The databases a benchmark runs on: a database of its own on a PostgreSQL server, or the
// embedded PostgreSQL server Kaira runs under a DATA_DIR.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import { join } from "node:path";
import pg from "pg";
import { ALL_CORES, childEnv, KAIRA_BIN, kairaOutput, onCleanup, ROOT } from "./process.mjs";

/** The admin URL that may create and drop the benchmarks' databases. */
export const PG_ADMIN_URL = process.env.BENCH_PG_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

/** The URL of database `name` on the server of `adminUrl`. */
export function databaseUrl(adminUrl, name) {
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function withClient(url, fn) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export const dropDatabase = (adminUrl, name) =>
  withClient(adminUrl, (client) => client.query(`drop database if exists ${name} with (force)`));

/**
 * Drops and recreates database `name` and registers its final drop. A leftover database from a
 * crashed run has no sessions; one with sessions belongs to a run in progress, which the forced
 * drop would wreck, so that is an error. Returns the database's URL.
 */
export async function freshDatabase(adminUrl, name) {
  await withClient(adminUrl, async (client) => {
    const { rows } = await client.query(
      "select count(*)::int as n from pg_stat_activity where datname = $1",
      [name],
    );
    if (rows[0].n > 0) {
      throw new Error(`database ${name} has ${rows[0].n} open sessions: is another benchmark running?`);
    }
    await client.query(`drop database if exists ${name} with (force)`);
    await client.query(`create database ${name}`);
  });
  onCleanup(() => dropDatabase(adminUrl, name));
  return databaseUrl(adminUrl, name);
}

/**
 * The embedded default database in a new temporary DATA_DIR: Kaira's own PostgreSQL server,
 * started with `kaira db start` before any Kaira process, so that it runs on every core — as
 * PostgreSQL does in postgres mode — instead of inheriting the core a pinned server (or a
 * pinned benchmark) runs on. Kaira processes on this DATA_DIR attach to it, and a client such
 * as the baseline connects with the URL `kaira db url` prints. `env` is what a Kaira process
 * needs to use it (DATA_DIR, and an empty DATABASE_URL, which wins over a .env file). Cleanup:
 * `kaira db stop --force` (after the servers, which are registered later), then the directory.
 */
export async function embeddedDatabase(prefix = "kaira-bench-") {
  const dataDir = await mkdtemp(join(os.tmpdir(), prefix));
  onCleanup(() => rm(dataDir, { recursive: true, force: true }));
  const env = { DATA_DIR: dataDir, DATABASE_URL: "" };
  const kaira = async (args, stdio) => {
    const child = spawn("taskset", ["-c", ALL_CORES, process.execPath, KAIRA_BIN, ...args], {
      cwd: ROOT,
      env: childEnv({ ...env, LOG_LEVEL: "warn" }),
      stdio,
    });
    const [code] = await once(child, "exit");
    if (code !== 0) throw new Error(`kaira ${args.join(" ")} exited with ${code}`);
  };
  await kaira(["db", "start"], ["ignore", "ignore", "inherit"]);
  onCleanup(() => kaira(["db", "stop", "--force"], ["ignore", "ignore", "ignore"]));
  return { dataDir, env, url: kairaOutput(["db", "url"], env) };
}
