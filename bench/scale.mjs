#!/usr/bin/env node
// Flat latency with data: the same read routes on a 20,000-post and a 1,000,000-post database.
// See bench/README.md ("Scale") for what is measured and why.
//
//   npm run bench:scale -- [--duration S] [--warmup S] [--connections N] [--runs N] [--keep] [--fresh]
//
// 1. For each data set (1,000 users / 20,000 posts and 100,000 users / 1,000,000 posts by default,
//    --small / --large users:posts): reuse its
//    database when it holds exactly those counts, else create it and seed it with `kaira seed`
//    (timed); `kaira migrate` either way.
// 2. Start Kaira on each (read cache off: CACHE_TTL_SECONDS=0), both pinned to core 0; autocannon
//    runs pinned to core 1. Walk 50 feed cursors on each to get the deep page.
// 3. For every scenario, `runs` times, each data set in turn: warm-up, then a measured run (p50,
//    p99, CPU µs/request and peak RSS of the Kaira process). Medians (RSS: the largest); ratio
//    1M/20k of the p99 medians.
// 4. EXPLAIN (ANALYZE, BUFFERS) of each scenario's statement on each data set, the SQL and
//    parameters captured from Kaira's own repositories, written to bench/results/scale-explain.md.
// 5. Drop the databases unless --keep.
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { databaseUrl, dropDatabase, PG_ADMIN_URL, withClient } from "./lib/database.mjs";
import { assertClean, loadWorker } from "./lib/load.mjs";
import { median, watchProcess } from "./lib/measure.mjs";
import {
  gitCommit,
  handleSignals,
  LOAD_CORE,
  onCleanup,
  RESULTS_DIR,
  runCleanups,
  runKaira,
  SERVER_CORE,
  startKaira,
} from "./lib/process.mjs";

const TARGET_RATIO = 1.3;
const VOCABULARY = 5000;
const PAGE = 20;
const DEEP_PAGES = 50;
// A tag on about a third of the posts and one on about one in a hundred (see the seed's TAGS).
const COMMON_TAG = "news";
const RARE_TAG = "offtopic";

const { values: args } = parseArgs({
  options: {
    duration: { type: "string", default: "8" },
    warmup: { type: "string", default: "2" },
    connections: { type: "string", default: "32" },
    runs: { type: "string", default: "3" },
    keep: { type: "boolean", default: false },
    fresh: { type: "boolean", default: false },
    small: { type: "string", default: "1000:20000" },
    large: { type: "string", default: "100000:1000000" },
    only: { type: "string" },
    help: { type: "boolean", default: false },
  },
});
if (args.help) {
  console.log(`npm run bench:scale -- [options]
  --duration S      seconds per measured run (default 8)
  --warmup S        seconds of warm-up before each measured run (default 2)
  --connections N   concurrent autocannon connections (default 32)
  --runs N          measured runs per scenario and data set; the table reports medians (default 3)
  --keep            keep the two databases for the next run (default: drop them)
  --fresh           reseed even when a database with the right counts exists
  --small U:P       the small data set, users:posts (default 1000:20000)
  --large U:P       the large data set, users:posts (default 100000:1000000)
  --only TEXT       only the scenarios whose name contains TEXT (e.g. "feed", "tag")
Admin URL: BENCH_PG_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/postgres).`);
  process.exit(0);
}
const options = {
  duration: Number(args.duration),
  warmup: Number(args.warmup),
  connections: Number(args.connections),
  runs: Number(args.runs),
};
/** "100000:1000000" → 100,000 users / 1,000,000 posts in kaira_bench_scale_1000000, named "1M". */
function dataSet(spec) {
  const [users, posts] = spec.split(":").map(Number);
  if (!Number.isInteger(users) || !Number.isInteger(posts) || users < 1 || posts < 1)
    throw new Error(`a data set is users:posts, not ${spec}`);
  const name = posts >= 1e6 ? `${posts / 1e6}M` : posts >= 1e3 ? `${posts / 1e3}k` : String(posts);
  return { name, users, posts, database: `kaira_bench_scale_${posts}` };
}
const DATA_SETS = [dataSet(args.small), dataSet(args.large)];

const ADMIN_URL = PG_ADMIN_URL;
const urlOf = (database) => databaseUrl(ADMIN_URL, database);
handleSignals();

// ---------------------------------------------------------------------------------------------
// Data sets

/** Reuses the data set's database when it holds exactly its counts; otherwise creates and seeds it. */
async function prepare(set) {
  const url = urlOf(set.database);
  const exists = await withClient(ADMIN_URL, async (client) => {
    const { rowCount } = await client.query("select 1 from pg_database where datname = $1", [set.database]);
    return rowCount === 1;
  });
  let counts;
  if (exists && !args.fresh) {
    counts = await withClient(url, (client) =>
      client
        .query(
          "select (select count(*)::int from users) as users, (select count(*)::int from posts) as posts",
        )
        .then((r) => r.rows[0])
        .catch(() => undefined),
    );
  }
  if (!args.keep) onCleanup(() => drop(set.database));
  if (counts?.users === set.users && counts?.posts === set.posts) {
    console.log(`${set.name}: reusing ${set.database} (${set.users} users, ${set.posts} posts)`);
    await runKaira(["migrate"], { DATABASE_URL: url, LOG_LEVEL: "warn" });
    return { ...set, url, seedSeconds: undefined };
  }
  await drop(set.database);
  await withClient(ADMIN_URL, (client) => client.query(`create database ${set.database}`));
  console.log(`${set.name}: seeding ${set.database} (load ${os.loadavg()[0].toFixed(2)})`);
  const started = performance.now();
  await runKaira(
    ["seed", "--users", String(set.users), "--posts", String(set.posts), "--vocabulary", String(VOCABULARY)],
    { DATABASE_URL: url, LOG_LEVEL: "warn" },
  );
  const seedSeconds = (performance.now() - started) / 1000;
  console.log(`${set.name}: seeded in ${seedSeconds.toFixed(1)} s (load ${os.loadavg()[0].toFixed(2)})`);
  return { ...set, url, seedSeconds };
}

const drop = (database) => dropDatabase(ADMIN_URL, database);

/** [min, max] of a table's ids, checked to be contiguous (random ids must all exist). */
async function idRange(url, table) {
  const { min, max, n } = await withClient(url, (client) =>
    client
      .query(`select min(id)::int as min, max(id)::int as max, count(*)::int as n from ${table}`)
      .then((r) => r.rows[0]),
  );
  if (max - min + 1 !== n) throw new Error(`${table} ids are not contiguous (${min}..${max}, ${n} rows)`);
  return [min, max];
}

// ---------------------------------------------------------------------------------------------
// Servers and load

function serveKaira(set) {
  mkdirSync(RESULTS_DIR, { recursive: true });
  return startKaira(
    {
      DATABASE_URL: set.url,
      LOG_LEVEL: "warn",
      RATE_LIMIT_PER_MINUTE: "0",
      DATABASE_POOL_SIZE: "10",
      CACHE_TTL_SECONDS: "0",
    },
    { name: `kaira (${set.name})`, logFile: join(RESULTS_DIR, `scale-kaira-${set.name}.log`) },
  );
}

async function measure(server, scenario) {
  const load = { url: server.url, path: scenario.path, ids: scenario.ids, connections: options.connections };
  assertClean(await loadWorker({ ...load, duration: options.warmup }), `${scenario.path} (warm-up)`);
  const { result, cpuSeconds, peakRssMiB } = await watchProcess(server.pid, () =>
    loadWorker({ ...load, duration: options.duration }),
  );
  assertClean(result, scenario.path);
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    cpu: (cpuSeconds * 1e6) / result.requests.total,
    rss: peakRssMiB,
  };
}

/** The cursor of the page DEEP_PAGES pages into the feed, walked through the API. */
async function deepCursor(server) {
  let cursor = null;
  for (let page = 0; page < DEEP_PAGES; page++) {
    const query = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
    const res = await fetch(`${server.url}/api/v1/posts?limit=${PAGE}${query}`);
    if (res.status !== 200) throw new Error(`feed page ${page + 1}: ${res.status}`);
    cursor = (await res.json()).next_cursor;
    if (!cursor) throw new Error(`the feed ends before page ${page + 2}`);
  }
  return cursor;
}

/** The scenarios of one data set: paths (with that set's ids and cursor) and repository calls. */
function scenariosOf(set) {
  return [
    {
      name: "feed first page",
      path: `/api/v1/posts?limit=${PAGE}`,
      call: (r) => r.posts.listByCursor({ limit: PAGE + 1 }),
    },
    {
      name: `feed page ${DEEP_PAGES + 1} (cursor)`,
      path: `/api/v1/posts?limit=${PAGE}&cursor=${encodeURIComponent(set.cursor)}`,
      call: (r) => r.posts.listByCursor({ limit: PAGE + 1, after: set.after }),
    },
    {
      name: "post by id",
      path: "/api/v1/posts/{id}",
      ids: set.postIds,
      call: (r) => r.posts.findById(set.postIds[0] + Math.floor((set.postIds[1] - set.postIds[0]) / 2)),
    },
    {
      name: "user by id",
      path: "/api/v1/users/{id}",
      ids: set.userIds,
      call: (r) => r.users.findById(set.userIds[0] + Math.floor((set.userIds[1] - set.userIds[0]) / 2)),
    },
    {
      name: "user's posts (author_id)",
      path: `/api/v1/posts?limit=${PAGE}&author_id={id}`,
      ids: set.userIds,
      call: (r) =>
        r.posts.listByCursor({
          limit: PAGE + 1,
          authorId: set.userIds[0] + Math.floor((set.userIds[1] - set.userIds[0]) / 2),
        }),
    },
    {
      name: `tag filter (${COMMON_TAG})`,
      path: `/api/v1/posts?limit=${PAGE}&tag=${COMMON_TAG}`,
      call: (r) => r.posts.listByCursor({ limit: PAGE + 1, tag: COMMON_TAG }),
    },
    {
      name: `tag filter (${RARE_TAG})`,
      path: `/api/v1/posts?limit=${PAGE}&tag=${RARE_TAG}`,
      call: (r) => r.posts.listByCursor({ limit: PAGE + 1, tag: RARE_TAG }),
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// EXPLAIN of the statements Kaira sends, captured from its own repositories.

async function explainAll(sets, chosen) {
  const { register } = await import("tsx/esm/api");
  register();
  const { openPostgresDatabase } = await import("../src/platform/database/postgres.ts");
  const { createPostsRepository } = await import("../src/modules/posts/posts.repository.ts");
  const { createUsersRepository } = await import("../src/modules/users/users.repository.ts");
  const sections = [];
  for (const set of sets) {
    const database = await openPostgresDatabase({ url: set.url, poolSize: 1 });
    try {
      const repositories = {
        posts: createPostsRepository(database),
        users: createUsersRepository(database),
      };
      for (const { index } of chosen) {
        const scenario = scenariosOf(set)[index];
        const statements = [];
        const stop = database.onQuery((query) => statements.push({ text: query.sql, values: query.params }));
        await scenario.call(repositories);
        stop();
        for (const statement of statements) {
          const plan = await withClient(set.url, async (client) => {
            await client.query(statement.text, statement.values); // warm, as under load
            const { rows } = await client.query(
              `explain (analyze, buffers) ${statement.text}`,
              statement.values,
            );
            return rows.map((row) => row["QUERY PLAN"]).join("\n");
          });
          sections.push(
            `### ${scenario.name} — ${set.name}\n\n\`\`\`sql\n${statement.text}\n-- parameters: ${JSON.stringify(statement.values)}\n\`\`\`\n\n\`\`\`\n${plan}\n\`\`\`\n`,
          );
        }
      }
    } finally {
      await database.close();
    }
  }
  return sections.join("\n");
}

// ---------------------------------------------------------------------------------------------

async function main() {
  if (os.availableParallelism() < 2) throw new Error("needs 2 cores: server on core 0, load on core 1");
  const loadAtStart = os.loadavg()[0];
  const commit = gitCommit();
  const sets = [];
  for (const set of DATA_SETS) sets.push(await prepare(set));

  for (const set of sets) {
    set.server = await serveKaira(set);
    set.postIds = await idRange(set.url, "posts");
    set.userIds = await idRange(set.url, "users");
    set.cursor = await deepCursor(set.server);
    const [createdAt, id] = JSON.parse(Buffer.from(set.cursor, "base64url").toString("utf8"));
    set.after = { createdAt, id };
  }

  const rows = [];
  const chosen = scenariosOf(sets[0])
    .map((scenario, index) => ({ name: scenario.name, index }))
    .filter(({ name }) => args.only === undefined || name.includes(args.only));
  if (chosen.length === 0) throw new Error(`no scenario name contains ${args.only}`);
  for (const { index: s } of chosen) {
    const perSet = sets.map(() => []);
    for (let run = 1; run <= options.runs; run++) {
      // Which data set goes first alternates from run to run, so neither always follows the other.
      const order = run % 2 ? [0, 1] : [1, 0];
      for (const i of order) {
        const set = sets[i];
        const scenario = scenariosOf(set)[s];
        const result = await measure(set.server, scenario);
        perSet[i].push({ ...result, load: os.loadavg()[0] });
        console.log(
          `${scenario.name} · ${set.name} · run ${run}: p50 ${result.p50} ms, p99 ${result.p99} ms, ` +
            `${Math.round(result.rps)} req/s, ${Math.round(result.cpu)} µs CPU/req, RSS ${result.rss.toFixed(0)} MiB ` +
            `(load ${os.loadavg()[0].toFixed(2)})`,
        );
      }
    }
    const summary = perSet.map((runs) => ({
      p50: median(runs.map((r) => r.p50)),
      p99: median(runs.map((r) => r.p99)),
      rps: median(runs.map((r) => r.rps)),
      cpu: median(runs.map((r) => r.cpu)),
      rss: Math.max(...runs.map((r) => r.rss)),
      load: median(runs.map((r) => r.load)),
    }));
    rows.push({ name: scenariosOf(sets[0])[s].name, small: summary[0], large: summary[1] });
  }

  const explain = await explainAll(sets, chosen);
  for (const set of sets) await set.server.stop();

  const [S, L] = DATA_SETS.map((set) => set.name);
  const f = (n) => (Number.isInteger(n) ? n.toFixed(1) : n.toFixed(2));
  const table = [
    `Run ${new Date().toISOString()} · commit ${commit} · Node ${process.version} · ${os.cpus()[0]?.model ?? "?"}, ` +
      `${os.availableParallelism()} cores · load average at start ${loadAtStart.toFixed(2)}`,
    "",
    `${DATA_SETS.map((s) => `${s.name}: ${s.users} users / ${s.posts} posts`).join(" vs ")} · read cache off · ` +
      `${options.connections} connections · ${options.runs} × ${options.duration} s measured (after ${options.warmup} s warm-up), medians, data sets alternating (which goes first too) · ` +
      `server on core ${SERVER_CORE}, autocannon on core ${LOAD_CORE}`,
    "",
    sets.some((s) => s.seedSeconds !== undefined)
      ? `Seed times (kaira seed, this run): ${sets
          .map((s) => `${s.name} ${s.seedSeconds === undefined ? "reused" : `${s.seedSeconds.toFixed(0)} s`}`)
          .join(", ")}\n`
      : "",
    `| query | ${S} p50 ms | ${S} p99 ms | ${L} p50 ms | ${L} p99 ms | p99 ${L}/${S} | ${S} CPU µs/req | ${L} CPU µs/req | ${S} / ${L} peak RSS MiB | load (median over runs) |`,
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...rows.map((r) => {
      const ratio = r.large.p99 / r.small.p99;
      return (
        `| ${r.name} | ${f(r.small.p50)} | ${f(r.small.p99)} | ${f(r.large.p50)} | ${f(r.large.p99)} | ` +
        `${ratio.toFixed(2)}× ${ratio <= TARGET_RATIO ? "✓" : "✗"} | ${Math.round(r.small.cpu)} | ${Math.round(r.large.cpu)} | ` +
        `${r.small.rss.toFixed(0)} / ${r.large.rss.toFixed(0)} | ` +
        `${r.small.load.toFixed(1)} / ${r.large.load.toFixed(1)} |`
      );
    }),
  ].join("\n");
  console.log(`\n${table}`);
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(join(RESULTS_DIR, "scale.md"), `${table}\n`);
  writeFileSync(
    join(RESULTS_DIR, "scale-explain.md"),
    `# EXPLAIN (ANALYZE, BUFFERS), commit ${commit}\n\n${explain}`,
  );
  console.log("written to bench/results/scale.md and bench/results/scale-explain.md");
}

try {
  await main();
} finally {
  await runCleanups();
}
