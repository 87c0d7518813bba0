#!/usr/bin/env node
// Kaira read-path benchmark. See bench/README.md for what is measured and why.
//
//   npm run bench -- [--db postgres|embedded|pglite|both] [--size default|large] [--users N] [--posts N]
//                    [--duration S] [--warmup S] [--connections N] [--runs N] [--server kaira|baseline|both]
//                    [--seed-sql]
//
// For each database mode: fresh database → seed with the app's CLI → start the server(s) pinned to core 0 →
// for every scenario, `runs` times: short warm-up, then a measured autocannon run from a process pinned to
// core 1, sampling the server's CPU time and RSS around it → medians → markdown table (stdout +
// results/latest.md).
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import pg from "pg";
import { embeddedDatabase, freshDatabase, PG_ADMIN_URL, withClient } from "./lib/database.mjs";
import { assertClean, loadWorker } from "./lib/load.mjs";
import { median, watchProcess } from "./lib/measure.mjs";
import {
  childEnv,
  gitCommit,
  handleSignals,
  LOAD_CORE,
  onCleanup,
  RESULTS_DIR,
  ROOT,
  runCleanups,
  runKaira,
  SERVER_CORE,
  startKaira,
  startServer,
} from "./lib/process.mjs";

const BASELINE_BIN = join(ROOT, "bench", "baseline-server.mjs");
const BENCH_DB = "kaira_bench";
const MODES = ["postgres", "embedded", "pglite"];
const TARGET_RATIO = 0.7;

const SIZES = { default: { users: 1000, posts: 20000 }, large: { users: 10000, posts: 200000 } };

const SCENARIOS = [
  { name: "posts list", path: "/api/v1/posts?limit=20" },
  { name: "post by id", path: "/api/v1/posts/{id}", ids: "posts" },
  { name: "user by id", path: "/api/v1/users/{id}", ids: "users" },
  // 100 popular posts read over and over: after the warm-up every read is a cache hit (for
  // Kaira with its cache on), which is what the cache on / off comparison is about.
  { name: "hot post", path: "/api/v1/posts/{id}", ids: "hotPosts" },
];

// ---------------------------------------------------------------------------------------------------------
// Options

const HELP = `Usage: npm run bench -- [options]
       npm run bench -- --suite writes|transfers|fanout|search|search-load|files|scale [that suite's options]

  --suite NAME                run another benchmark of bench/ with the options that follow (its own
                              --help lists them): writes = bench/writes.mjs (the write routes beside the
                              baseline, transfers at 8/32/128 clients), transfers, fanout, search, search-load,
                              files, scale; the default is this one, the read routes

  --db MODE[,MODE]            database mode(s) to benchmark (default: both): postgres = a PostgreSQL
                              server (BENCH_PG_ADMIN_URL), embedded = the embedded default (Kaira's own
                              PostgreSQL server under a temporary DATA_DIR), pglite = the optional
                              in-process engine (EMBEDDED_ENGINE=pglite); both = postgres,embedded
  --size default|large        data-set preset: default = 1000 users / 20000 posts, large = 10000 / 200000
  --users N, --posts N        override the preset's counts
  --duration S                seconds per measured run (default: 10)
  --warmup S                  seconds of warm-up before each measured run (default: 2)
  --connections N             concurrent autocannon connections (default: 50)
  --runs N                    measured runs per scenario and server; the table shows medians (default: 3)
  --server kaira|baseline|both  which servers to run in postgres and embedded mode (default: both)
  --seed-sql                  postgres + baseline only: create the schema from drizzle/0000_init.sql and
                              seed with generate_series instead of \`kaira seed\` (for developing the bench)
  -h, --help                  show this help

Env: BENCH_PG_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/postgres) is used to (re)create and drop
the "${BENCH_DB}" database.`;

/** A bad flag: reported as its message alone, without a stack. */
class UsageError extends Error {}

function parseOptions(argv) {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        db: { type: "string", default: "both" },
        size: { type: "string", default: "default" },
        users: { type: "string" },
        posts: { type: "string" },
        duration: { type: "string", default: "10" },
        warmup: { type: "string", default: "2" },
        connections: { type: "string", default: "50" },
        runs: { type: "string", default: "3" },
        server: { type: "string", default: "both" },
        "seed-sql": { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    }));
  } catch (error) {
    throw new UsageError(`${error.message}\n\n${HELP}`);
  }
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }

  const size = SIZES[values.size];
  if (!size) throw new UsageError(`--size must be one of ${Object.keys(SIZES).join(", ")}`);
  const positiveInt = (name, raw) => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1)
      throw new UsageError(`--${name} must be a positive integer, got ${raw}`);
    return n;
  };
  const oneOf = (name, raw, allowed) => {
    if (!allowed.includes(raw)) throw new UsageError(`--${name} must be one of ${allowed.join(", ")}`);
    return raw;
  };

  const modes = [
    ...new Set(values.db.split(",").flatMap((mode) => (mode === "both" ? ["postgres", "embedded"] : [mode]))),
  ];
  for (const mode of modes) oneOf("db", mode, [...MODES, "both"]);
  const options = {
    modes,
    users: positiveInt("users", values.users ?? size.users),
    posts: positiveInt("posts", values.posts ?? size.posts),
    duration: positiveInt("duration", values.duration),
    warmup: positiveInt("warmup", values.warmup),
    connections: positiveInt("connections", values.connections),
    runs: positiveInt("runs", values.runs),
    server: oneOf("server", values.server, ["kaira", "baseline", "both"]),
    seedSql: values["seed-sql"],
  };
  if (options.seedSql && options.modes.some((mode) => mode !== "postgres")) {
    throw new UsageError(
      "--seed-sql only works with --db postgres (the embedded modes are seeded by the app's CLI)",
    );
  }
  if (options.seedSql && options.server !== "baseline") {
    // `kaira serve` runs its migrator, which fails on tables it did not create itself.
    throw new UsageError(
      "--seed-sql needs --server baseline (Kaira's migrator rejects a schema it did not create)",
    );
  }
  return options;
}

handleSignals();

// ---------------------------------------------------------------------------------------------------------
// Measurement

async function measure(server, scenario, ids, options, label) {
  const load = { url: server.url, path: scenario.path, ids, connections: options.connections };
  assertClean(await loadWorker({ ...load, duration: options.warmup }), `${label} (warm-up)`);

  const { result, cpuSeconds, peakRssMiB } = await watchProcess(server.pid, () =>
    loadWorker({ ...load, duration: options.duration }),
  );
  assertClean(result, label);

  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    cpuUsPerReq: (cpuSeconds * 1e6) / result.requests.total,
    rss: peakRssMiB,
    requests: result.requests.total,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Databases

/**
 * The --seed-sql fallback: the app's initial migration plus generate_series rows shaped like the CLI's seed
 * (posts spread over users and over a year of created_at). Only for developing the bench without the app.
 */
async function seedWithSql(databaseUrl, users, posts) {
  const schemaSql = readFileSync(join(ROOT, "drizzle", "0000_init.sql"), "utf8");
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(schemaSql);
    await client.query(`
      insert into users (email, username, password_hash, created_at, updated_at)
      select 'user' || i || '@bench.test', 'user' || i, 'not-a-hash',
             now() - interval '400 days' + i * interval '1 minute',
             now() - interval '400 days' + i * interval '1 minute'
      from generate_series(1, ${users}) as i;

      insert into posts (author_id, title, content, tags, created_at, updated_at)
      select 1 + (i * 7919) % ${users},
             'Post ' || i || ': notes on something worth reading',
             repeat('Lorem ipsum dolor sit amet, consectetur adipiscing elit. ', 3 + i % 8),
             array['tag' || i % 50, 'topic' || i % 7],
             ts, ts
      from generate_series(1, ${posts}) as i,
           lateral (select now() - (${posts} - i) * (interval '365 days' / ${posts})) as t(ts);

      analyze;
    `);
  } finally {
    await client.end();
  }
}

async function postgresIdRanges(databaseUrl) {
  return withClient(databaseUrl, async (client) => {
    const range = async (table) => {
      const { rows } = await client.query(
        `select min(id)::int as min, max(id)::int as max, count(*)::int as n from ${table}`,
      );
      const { min, max, n } = rows[0];
      // Random ids in [min, max] must all exist, or the single-item scenarios would count 404s.
      if (!n || max - min + 1 !== n)
        throw new Error(`${table} ids are not contiguous (min ${min}, max ${max}, ${n} rows)`);
      return [min, max];
    };
    return { users: await range("users"), posts: await range("posts") };
  });
}

/**
 * PGlite's files belong to the server process, so ids cannot be read from the database while it runs. A
 * fresh database seeded with N rows has serial ids 1..N; probe both ends and one past to be sure.
 */
async function probeIdRanges(server, counts) {
  const status = async (path) => {
    const res = await fetch(`${server.url}${path}`);
    await res.arrayBuffer();
    return res.status;
  };
  const ranges = {};
  for (const [table, n] of Object.entries(counts)) {
    const codes = [await status(`/api/v1/${table}/1`), await status(`/api/v1/${table}/${n}`)];
    const past = await status(`/api/v1/${table}/${n + 1}`);
    if (codes.some((c) => c !== 200) || past !== 404) {
      throw new Error(
        `${table}: expected ids 1..${n} (got ${codes.join(", ")} for 1 and ${n}, ${past} for ${n + 1})`,
      );
    }
    ranges[table] = [1, n];
  }
  return ranges;
}

// ---------------------------------------------------------------------------------------------------------
// Response-shape check: the comparison is only fair if both servers send the same documents.

function shapeOf(value) {
  if (Array.isArray(value)) return value.length ? [shapeOf(value[0])] : [];
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, shapeOf(value[k])]),
    );
  }
  return value === null ? "null" : typeof value;
}

async function sampleShapes(server, ids) {
  const shapes = {};
  for (const scenario of SCENARIOS) {
    const path = scenario.ids ? scenario.path.replace("{id}", String(ids[scenario.ids][0])) : scenario.path;
    const res = await fetch(`${server.url}${path}`);
    const body = await res.json();
    if (res.status !== 200) {
      throw new Error(`${server.name} GET ${path}: ${res.status} ${JSON.stringify(body)}`);
    }
    shapes[scenario.name] = JSON.stringify(shapeOf(body));
  }
  return shapes;
}

// ---------------------------------------------------------------------------------------------------------
// One database mode

async function benchMode(mode, options) {
  console.log(`\n## ${mode}: ${options.users} users, ${options.posts} posts`);
  // DATABASE_POOL_SIZE is Kaira's default, set anyway so the pool always matches the baseline's 10.
  const serverEnv = {
    LOG_LEVEL: "warn",
    RATE_LIMIT_PER_MINUTE: "0",
    SIGNUP_PER_HOUR: "0",
    DATABASE_POOL_SIZE: "10",
  };
  let dbEnv;
  // The URL a client other than Kaira uses (the baseline; the id ranges); none with PGlite.
  let databaseUrl;

  if (mode === "postgres") {
    databaseUrl = await freshDatabase(PG_ADMIN_URL, BENCH_DB);
    dbEnv = { DATABASE_URL: databaseUrl };
    console.log(`seeding ${databaseUrl}…`);
    if (options.seedSql) await seedWithSql(databaseUrl, options.users, options.posts);
    else await seedWithCli(dbEnv, options);
  } else if (mode === "embedded") {
    // The embedded default (EMBEDDED_ENGINE unset): Kaira's own PostgreSQL server under a new DATA_DIR,
    // started unpinned before the servers (see embeddedDatabase); every Kaira process of the run and the
    // baseline use that one server, as they share one server in postgres mode.
    const embedded = await embeddedDatabase();
    dbEnv = embedded.env;
    databaseUrl = embedded.url;
    console.log(`seeding ${embedded.dataDir}…`);
    await seedWithCli(dbEnv, options);
  } else {
    const dataDir = await mkdtemp(join(os.tmpdir(), "kaira-bench-"));
    onCleanup(() => rm(dataDir, { recursive: true, force: true }));
    // The app also reads .env; an empty DATABASE_URL in the environment wins over it and means "embedded".
    dbEnv = { DATA_DIR: dataDir, DATABASE_URL: "", EMBEDDED_ENGINE: "pglite" };
    console.log(`seeding ${dataDir}…`);
    await seedWithCli(dbEnv, options);
  }

  const servers = [];
  const wantKaira = options.server !== "baseline";
  // The baseline speaks to PostgreSQL over the network like Kaira's pg adapter (in postgres and embedded
  // mode); against in-process PGlite it would not be the same work, so PGlite reports Kaira alone.
  const wantBaseline = databaseUrl !== undefined && options.server !== "kaira";
  // In postgres mode Kaira uses Redis for its cache (as a distributed deployment would) when
  // REDIS_URL is set; the embedded modes cache in process memory, as a single process does.
  const redisEnv = mode === "postgres" && process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL } : {};
  const kairaServer = (name, env) =>
    startKaira(
      { ...serverEnv, ...env, ...redisEnv },
      { name, logFile: join(RESULTS_DIR, `${name}-${mode}.log`) },
    );
  if (wantKaira) {
    servers.push(await kairaServer("kaira", dbEnv));
    // The same server with the read cache off: every read goes to the database. PGlite belongs to one
    // process, so there this one gets a copy of the seeded data directory.
    let uncachedDbEnv = dbEnv;
    if (mode === "pglite") {
      const copy = `${dbEnv.DATA_DIR}-uncached`;
      execFileSync("cp", ["-r", dbEnv.DATA_DIR, copy]);
      execFileSync("rm", ["-f", join(copy, "kaira.lock")]); // the seeding process has exited
      onCleanup(() => rm(copy, { recursive: true, force: true }));
      uncachedDbEnv = { ...dbEnv, DATA_DIR: copy };
    }
    servers.push(await kairaServer("kaira-nocache", { ...uncachedDbEnv, CACHE_TTL_SECONDS: "0" }));
  }
  if (wantBaseline) {
    servers.push(
      await startServer({
        name: "baseline",
        script: BASELINE_BIN,
        env: childEnv({ DATABASE_URL: databaseUrl }),
        logFile: join(RESULTS_DIR, `baseline-${mode}.log`),
      }),
    );
  }
  let ids = databaseUrl ? await postgresIdRanges(databaseUrl) : undefined;
  ids ??= await probeIdRanges(servers[0], { users: options.users, posts: options.posts });
  ids.hotPosts = [ids.posts[0], Math.min(ids.posts[1], ids.posts[0] + 99)];

  const shapes = [];
  for (const server of servers) shapes.push({ server: server.name, shapes: await sampleShapes(server, ids) });
  for (const { server, shapes: other } of shapes.slice(1)) {
    for (const scenario of SCENARIOS) {
      if (other[scenario.name] !== shapes[0].shapes[scenario.name]) {
        console.warn(
          `warning: ${scenario.name}: ${server} and ${shapes[0].server} answer differently shaped documents\n` +
            `  ${shapes[0].server}: ${shapes[0].shapes[scenario.name]}\n  ${server}: ${other[scenario.name]}`,
        );
      }
    }
  }

  // Runs alternate between servers (kaira, baseline, kaira, …) so drift over time — caches warming, the
  // machine's other load — lands on both rather than on whichever ran last.
  const rows = [];
  for (const scenario of SCENARIOS) {
    const samples = new Map(servers.map((s) => [s.name, []]));
    for (let run = 1; run <= options.runs; run++) {
      for (const server of servers) {
        const label = `${mode} ${server.name} ${scenario.name} run ${run}/${options.runs}`;
        const m = await measure(server, scenario, scenario.ids && ids[scenario.ids], options, label);
        samples.get(server.name).push(m);
        console.log(
          `${label}: ${fmt(m.rps, 0)} req/s, p50 ${fmt(m.p50, 1)} ms, p99 ${fmt(m.p99, 1)} ms, ` +
            `${fmt(m.cpuUsPerReq, 0)} µs CPU/req, RSS ${fmt(m.rss, 0)} MiB`,
        );
      }
    }
    for (const server of servers) {
      const runs = samples.get(server.name);
      const med = (key) => median(runs.map((r) => r[key]));
      rows.push({
        mode,
        server: server.name,
        scenario: scenario.name,
        rps: med("rps"),
        p50: med("p50"),
        p99: med("p99"),
        cpuUsPerReq: med("cpuUsPerReq"),
        rss: Math.max(...runs.map((r) => r.rss)),
      });
    }
  }

  // Stop servers before the database cleanup (registered earlier, so it runs later).
  await runCleanups();
  return rows;
}

async function seedWithCli(dbEnv, options) {
  await runKaira(["seed", "--users", String(options.users), "--posts", String(options.posts)], {
    ...dbEnv,
    LOG_LEVEL: "warn",
  });
}

// ---------------------------------------------------------------------------------------------------------
// Report

function fmt(n, digits) {
  return n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function report(rows, options) {
  const cpu = os.cpus()[0]?.model ?? "unknown CPU";
  const lines = [
    `Run ${new Date().toISOString()} · commit ${gitCommit()} · Node ${process.version} · ${cpu}, ` +
      `${os.availableParallelism()} cores · load average at start ${options.loadAtStart.toFixed(2)}`,
    "",
    `${options.users} users, ${options.posts} posts · ${options.connections} connections · ` +
      `${options.runs} × ${options.duration} s measured (after ${options.warmup} s warm-up each), medians · ` +
      `server on core ${SERVER_CORE}, autocannon on core ${LOAD_CORE}`,
    "",
    "| mode | server | scenario | req/s | p50 ms | p99 ms | CPU µs/req | peak RSS MiB |",
    "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.mode} | ${r.server} | ${r.scenario} | ${fmt(r.rps, 0)} | ${fmt(r.p50, 1)} | ${fmt(r.p99, 1)} | ` +
        `${fmt(r.cpuUsPerReq, 0)} | ${fmt(r.rss, 0)} |`,
    );
  }

  const ratios = [];
  for (const r of rows) {
    if (r.server === "baseline") continue;
    const base = rows.find((b) => b.server === "baseline" && b.mode === r.mode && b.scenario === r.scenario);
    if (base)
      ratios.push({ mode: r.mode, server: r.server, scenario: r.scenario, kaira: r.rps, baseline: base.rps });
  }
  if (ratios.length) {
    lines.push(
      "",
      `Kaira / baseline (req/s), target ≥ ${TARGET_RATIO}× (the baseline has no cache: kaira-nocache is the like-for-like row):`,
      "",
      "| mode | server | scenario | Kaira req/s | baseline req/s | ratio | ≥ 0.7× |",
      "| --- | --- | --- | ---: | ---: | ---: | :---: |",
    );
    for (const r of ratios) {
      const ratio = r.kaira / r.baseline;
      lines.push(
        `| ${r.mode} | ${r.server} | ${r.scenario} | ${fmt(r.kaira, 0)} | ${fmt(r.baseline, 0)} | ${fmt(ratio, 2)}× | ` +
          `${ratio >= TARGET_RATIO ? "yes" : "**no**"} |`,
      );
    }
  }

  const cacheRatios = [];
  for (const r of rows) {
    if (r.server !== "kaira") continue;
    const off = rows.find(
      (b) => b.server === "kaira-nocache" && b.mode === r.mode && b.scenario === r.scenario,
    );
    if (off) cacheRatios.push({ mode: r.mode, scenario: r.scenario, on: r, off });
  }
  if (cacheRatios.length) {
    lines.push(
      "",
      "Read cache on / off (req/s); target for a single post ≥ 2×:",
      "",
      "| mode | scenario | cached req/s | uncached req/s | ratio | cached p50 ms | uncached p50 ms |",
      "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    );
    for (const r of cacheRatios) {
      lines.push(
        `| ${r.mode} | ${r.scenario} | ${fmt(r.on.rps, 0)} | ${fmt(r.off.rps, 0)} | ${fmt(r.on.rps / r.off.rps, 2)}× | ` +
          `${fmt(r.on.p50, 1)} | ${fmt(r.off.p50, 1)} |`,
      );
    }
  }
  const modeRatios = [];
  for (const r of rows) {
    if (r.mode !== "embedded") continue;
    const onPostgres = rows.find(
      (b) => b.mode === "postgres" && b.server === r.server && b.scenario === r.scenario,
    );
    if (onPostgres)
      modeRatios.push({ server: r.server, scenario: r.scenario, embedded: r, postgres: onPostgres });
  }
  if (modeRatios.length) {
    lines.push(
      "",
      "Embedded ÷ postgres, the medians above divided per server and scenario (req/s above 1×, p99 and CPU " +
        "below 1× favour the embedded database; neither CPU column counts the database server's own processes):",
      "",
      "| server | scenario | req/s | p99 | CPU µs/req | peak RSS |",
      "| --- | --- | ---: | ---: | ---: | ---: |",
    );
    const ratio = (a, b) => `${fmt(a / b, 2)}×`;
    for (const { server, scenario, embedded: e, postgres: p } of modeRatios) {
      lines.push(
        `| ${server} | ${scenario} | ${ratio(e.rps, p.rps)} | ${ratio(e.p99, p.p99)} | ` +
          `${ratio(e.cpuUsPerReq, p.cpuUsPerReq)} | ${ratio(e.rss, p.rss)} |`,
      );
    }
  }
  return `${lines.join("\n")}\n`;
}

// ---------------------------------------------------------------------------------------------------------

// The other suites, each a script of its own; the load-generating ones run pinned to core 1 as
// their npm scripts do, so `npm run bench -- --suite X` and `npm run bench:X` measure the same.
const SUITES = {
  writes: { script: "writes.mjs", pinned: true },
  transfers: { script: "transfers.mjs", pinned: true },
  fanout: { script: "fanout.mjs", pinned: false },
  search: { script: "search.mjs", pinned: true },
  "search-load": { script: "search-load.mjs", pinned: true },
  files: { script: "files.mjs", pinned: true },
  scale: { script: "scale.mjs", pinned: false },
};

/** Runs `--suite NAME …` and exits with its status; returns when no other suite was asked for. */
function runOtherSuite(argv) {
  const at = argv.indexOf("--suite");
  if (at === -1 || argv[at + 1] === "reads") return;
  const suite = SUITES[argv[at + 1]];
  if (!suite) throw new UsageError(`--suite must be one of reads, ${Object.keys(SUITES).join(", ")}`);
  const rest = [...argv.slice(0, at), ...argv.slice(at + 2)];
  const script = fileURLToPath(new URL(suite.script, import.meta.url));
  const [command, args] = suite.pinned
    ? ["taskset", ["-c", LOAD_CORE, process.execPath, script, ...rest]]
    : [process.execPath, [script, ...rest]];
  const child = spawn(command, args, { stdio: "inherit" });
  child.on("exit", (code) => process.exit(code ?? 1));
  return new Promise(() => {}); // the child's exit ends this process
}

async function main() {
  await runOtherSuite(process.argv.slice(2));
  const options = parseOptions(
    process.argv.slice(2).filter((arg, i, all) => !(arg === "--suite" || all[i - 1] === "--suite")),
  );
  if (os.availableParallelism() < 2) {
    throw new Error("needs at least 2 cores: the server and the load generator are pinned to cores 0 and 1");
  }
  if (existsSync(join(ROOT, ".env"))) {
    console.warn("warning: .env exists; the app may read settings from it that this benchmark does not set");
  }
  // Both cores are in use during a run, so anything else running (tests, another server) skews every number.
  const [loadAtStart] = os.loadavg();
  if (loadAtStart > 0.5) {
    console.warn(
      `warning: 1-min load average is ${loadAtStart.toFixed(2)}; other work on this machine will skew results`,
    );
  }
  mkdirSync(RESULTS_DIR, { recursive: true });

  const rows = [];
  try {
    for (const mode of options.modes) rows.push(...(await benchMode(mode, options)));
  } catch (error) {
    // A failure in the second mode should not throw away the first one's minutes of measurements; they are
    // printed, but not written to results/latest.md, which only ever holds complete runs.
    if (rows.length)
      console.log(`\nIncomplete run, modes finished so far:\n\n${report(rows, { ...options, loadAtStart })}`);
    throw error;
  }

  const table = report(rows, { ...options, loadAtStart });
  console.log(`\n${table}`);
  writeFileSync(join(RESULTS_DIR, "latest.md"), table);
  console.log(`written to ${join("bench", "results", "latest.md")}`);
}

try {
  await main();
} catch (error) {
  console.error(`\nbench failed: ${error instanceof UsageError ? error.message : (error.stack ?? error)}`);
  await runCleanups();
  process.exit(1);
}
