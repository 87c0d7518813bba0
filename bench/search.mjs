#!/usr/bin/env node
// Search benchmark, on PostgreSQL (DATABASE_URL = an admin URL such as
// postgres://postgres@127.0.0.1:5432/postgres; a database of its own is created and dropped).
//
//   npm run bench:search -- [--posts N] [--users N] [--duration S] [--connections N,M] [--runs N]
//                           [--explain] [--keep] [--reuse]
//
// --explain prints EXPLAIN (ANALYZE, BUFFERS) of a few queries first; --keep leaves the database
// in place afterwards for a closer look (the next run drops and recreates it); --reuse keeps it
// too, and starts from it when it already holds --posts posts and --users users (seeding a
// million posts takes minutes). Kaira's SEARCH_* settings come from the environment, like
// DATABASE_POOL_SIZE's: the table's header lists those set.
//
// 1. Fresh database, migrated by `kaira migrate`, seeded with set-based SQL: posts whose titles
//    and content are drawn from a generated vocabulary with a skewed (Zipf-like) distribution,
//    so a few words are in a tenth of the posts and most in a few hundred — ranking work varies
//    from query to query as it does on real text.
// 2. Kaira (`kaira serve`) pinned to core 0; the load runs in this process (the npm script pins
//    it to core 1).
// 3. For each scenario (search, suggest) and concurrency, `runs` times: Kaira over HTTP
//    (autocannon), then the baseline — for every query the very statement and parameters
//    Kaira's repository sends (captured through the database port), run through a `pg.Pool`
//    of the same size with the same concurrency. The ratio shows what the API adds on top of
//    PostgreSQL's own work.
// Tables report medians of the runs, and the largest RSS Kaira's process reached in its
// measured runs.
import os from "node:os";
import autocannon from "autocannon";
import pg from "pg";
import { parseBenchArgs } from "./lib/cli.mjs";
import { databaseUrl, dropDatabase as dropNamed, withClient } from "./lib/database.mjs";
import { median, percentile, sampleRss } from "./lib/measure.mjs";
import { gitCommit, runCleanups, runKaira, startKaira } from "./lib/process.mjs";

const DB = "kaira_bench_search";
const POOL_SIZE = 10; // Kaira's default DATABASE_POOL_SIZE; the baseline gets the same.

const values = parseBenchArgs(import.meta.url, {
  posts: { type: "string", default: "100000" },
  users: { type: "string", default: "300" },
  duration: { type: "string", default: "10" },
  connections: { type: "string", default: "1,8" },
  runs: { type: "string", default: "3" },
  explain: { type: "boolean", default: false },
  keep: { type: "boolean", default: false },
  reuse: { type: "boolean", default: false },
});
const POSTS = Number(values.posts);
const USERS = Number(values.users);
const DURATION = Number(values.duration);
// Each level is measured separately: 1 shows a query's own latency, 8 the latency once the
// two cores are busy with several requests at a time.
const CONNECTION_LEVELS = values.connections.split(",").map(Number);
const RUNS = Number(values.runs);

const ADMIN_URL = process.env.DATABASE_URL;
if (!ADMIN_URL) {
  console.error("DATABASE_URL is required (an admin URL; the benchmark creates and drops its own database)");
  process.exit(2);
}
const benchUrl = databaseUrl(ADMIN_URL, DB);

const log = (line) => process.stderr.write(`${line}\n`);

// ---------------------------------------------------------------------------------------------
// Deterministic data: a small PRNG so every run seeds and queries the same words.

function mulberry32(seed) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Consonant-vowel syllables, some closed by a consonant: words as varied in their letters (and
// so in their trigrams) as real ones, instead of a few syllables recurring in every word.
const SYLLABLES = "b c d f g h j k l m n p r s t v w z"
  .split(" ")
  .flatMap((c) => "a e i o u".split(" ").flatMap((v) => [c + v, `${c}${v}n`, `${c}${v}r`]));
const VOCABULARY_SIZE = 20_000;

/** 20,000 distinct pronounceable words of 2–4 syllables, e.g. "kelvo", "tunmara". */
function buildVocabulary() {
  const random = mulberry32(7);
  const words = new Set();
  while (words.size < VOCABULARY_SIZE) {
    const n = 2 + Math.floor(random() * 3);
    let word = "";
    for (let i = 0; i < n; i++) word += SYLLABLES[Math.floor(random() * SYLLABLES.length)];
    words.add(word);
  }
  return [...words];
}

// Word i is drawn with the density of floor(N · u^SKEW), u uniform: a Zipf-like curve where the
// most common word is in about one post in ten, the hundredth in ~1% and the median word in
// ~0.3% — like content words of real text once stop words are gone.
const SKEW = 1.6;

function buildSearchQueries(vocabulary, count) {
  const random = mulberry32(11);
  const word = () => vocabulary[Math.floor(VOCABULARY_SIZE * random() ** SKEW)];
  const rare = () => vocabulary[1000 + Math.floor(random() * (VOCABULARY_SIZE - 1000))];
  const common = () => vocabulary[Math.floor(random() * 20)];
  const shapes = [
    () => word(),
    () => rare(),
    () => common(),
    () => `${word()} ${word()}`,
    () => `"${word()} ${word()}"`,
    () => `${word()} -${common()}`,
    () => `${rare()} or ${rare()}`,
    () => `${common()} ${rare()}`,
  ];
  return Array.from({ length: count }, (_, i) => shapes[i % shapes.length]());
}

function buildSuggestQueries(vocabulary, count) {
  const random = mulberry32(13);
  return Array.from({ length: count }, (_, i) => {
    const word = vocabulary[Math.floor(random() * VOCABULARY_SIZE)];
    if (i % 2 === 0) return word.slice(0, 3 + Math.floor(random() * 3)); // a prefix being typed
    const at = 1 + Math.floor(random() * (word.length - 2)); // a typo: one letter dropped
    return word.slice(0, at) + word.slice(at + 1);
  });
}

// ---------------------------------------------------------------------------------------------
// Database

async function createDatabase() {
  await withClient(ADMIN_URL, async (client) => {
    const { rows } = await client.query(
      "select count(*)::int as n from pg_stat_activity where datname = $1",
      [DB],
    );
    if (rows[0].n > 0) throw new Error(`database ${DB} has ${rows[0].n} open sessions: another run?`);
    await client.query(`drop database if exists ${DB}`);
    await client.query(`create database ${DB}`);
  });
}

/** Whether the benchmark's database exists and holds exactly the data asked for. */
async function holdsSeed() {
  const exists = await withClient(ADMIN_URL, async (client) => {
    const { rows } = await client.query("select 1 from pg_database where datname = $1", [DB]);
    return rows.length === 1;
  });
  if (!exists) return false;
  return withClient(benchUrl, async (client) => {
    const { rows } = await client
      .query("select (select count(*) from posts)::int as posts, (select count(*) from users)::int as users")
      .catch(() => ({ rows: [] }));
    // Users: at least the seeded ones (a server run may add its own, such as an admin).
    return rows[0]?.posts === POSTS && rows[0]?.users >= USERS;
  });
}

/**
 * This benchmark measures a search's own cost, so admission lets every connection of the load
 * (one client address) search at once; bench:search-load measures admission itself. The
 * client's share is twice that: searches a finished run's connections left running on the
 * server overlap the next run's first ones.
 */
function admissionSettings() {
  const most = Math.max(...CONNECTION_LEVELS);
  return {
    SEARCH_CONCURRENCY: process.env.SEARCH_CONCURRENCY ?? String(most),
    SEARCH_CONCURRENCY_PER_CLIENT: process.env.SEARCH_CONCURRENCY_PER_CLIENT ?? String(2 * most),
  };
}

/** The settings of Kaira's that this run changed through the environment. */
function settingsInEnvironment() {
  const set = Object.entries({ ...admissionSettings(), ...process.env })
    .filter(([name]) => name.startsWith("SEARCH_") || name === "DATABASE_STATEMENT_TIMEOUT_MS")
    .map(([name, value]) => `${name}=${value}`);
  return set.join(", ");
}

const dropDatabase = () => dropNamed(ADMIN_URL, DB);

/** Everything in a few statements: the database fills the tables from generate_series. */
async function seed(vocabulary) {
  await withClient(benchUrl, async (client) => {
    await client.query("select setseed(0.42)");
    await client.query(
      `insert into users (email, username, password_hash)
       select 'bench' || i || '@example.com', 'bench' || i, 'not-a-login' from generate_series(1, $1) as i`,
      [USERS],
    );
    // The vocabulary as a table: looking a word up by number is then an index probe, where
    // subscripting a 20,000-element array parameter would copy the array for every word.
    await client.query(
      `create temporary table vocabulary as
       select n::int, word from unnest($1::text[]) with ordinality as v(word, n)`,
      [vocabulary],
    );
    await client.query("alter table vocabulary add primary key (n)");
    // Each subquery refers to the row's i, so it runs per row (with fresh random() draws).
    // Titles: 3–8 words; content: 20–79 words; 0–2 tags out of 40; a year of created_at.
    await client.query(
      `insert into posts (author_id, title, content, tags, created_at, updated_at)
       select u.id, initcap(t.title), t.content, t.tags, t.ts, t.ts
       from generate_series(1, $1::int) as i
       cross join lateral (
         select
           (select string_agg(v.word, ' ')
              from (select 1 + floor($2 * power(random(), $3))::int as n
                    from generate_series(1, 3 + (i * 7) % 6)) as pick
              join vocabulary v using (n)) as title,
           (select string_agg(v.word, ' ')
              from (select 1 + floor($2 * power(random(), $3))::int as n
                    from generate_series(1, 20 + (i * 13) % 60)) as pick
              join vocabulary v using (n)) as content,
           (select coalesce(array_agg('tag' || (floor(random() * 40))::int), '{}')
              from generate_series(1, i % 3) as g) as tags,
           now() - interval '365 days' + (i * (interval '365 days' / $1::int)) as ts
       ) as t
       join users u on u.id = 1 + (i::int8 * 7919) % $4`,
      [POSTS, VOCABULARY_SIZE, SKEW, USERS],
    );
    // Flush GIN pending lists and give the planner statistics, as autovacuum would.
    await client.query("vacuum analyze");
  });
}

// ---------------------------------------------------------------------------------------------
// The statements Kaira sends, captured from its own repository through the database port.

async function captureStatements(searchQueries, suggestQueries) {
  const { register } = await import("tsx/esm/api");
  register();
  const { openPostgresDatabase } = await import("../src/platform/database/postgres.ts");
  const { createSearchRepository } = await import("../src/modules/search/search.repository.ts");
  const database = await openPostgresDatabase({ url: benchUrl, poolSize: 1 });
  const { loadConfig } = await import("../src/config.ts");
  // The rank window the server will use (SEARCH_RANK_WINDOW or its default).
  const { rankWindow } = loadConfig({ ...process.env, DATABASE_URL: benchUrl }).search;
  const repository = createSearchRepository(database.db, { rankWindow });
  // Each query's own statement and parameters, exactly as the repository sends them (its SQL
  // depends on the input: suggestions skip typo matching for short input, for instance).
  const capture = async (queries, send) => {
    const statements = new Map();
    for (const q of queries) {
      let statement;
      const stop = database.onQuery((query) => {
        statement = { text: query.sql, values: query.params };
      });
      await send(q);
      stop();
      statements.set(q, statement);
    }
    return statements;
  };
  try {
    return {
      // The API asks for one row more than the page, to know whether another page exists.
      search: await capture(searchQueries, (q) => repository.searchPosts({ query: q, limit: 21 })),
      suggest: await capture(suggestQueries, (q) => repository.suggestTitles(q, 10)),
    };
  } finally {
    await database.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Load

function serveKaira() {
  // One instance: in-process cache and pub/sub keep Redis out of the numbers (childEnv drops REDIS_URL).
  return startKaira(
    {
      DATABASE_URL: benchUrl,
      LOG_LEVEL: "warn",
      RATE_LIMIT_PER_MINUTE: "0",
      SIGNUP_PER_HOUR: "0",
      DATABASE_POOL_SIZE: String(POOL_SIZE),
      ...admissionSettings(),
    },
    { timeoutMs: 60_000 },
  );
}

/** autocannon against Kaira, cycling through the queries; latency in ms, Kaira's peak RSS in MiB. */
async function loadKaira(server, path, queries, duration, connections) {
  let next = 0;
  const rss = sampleRss(server.pid);
  const result = await autocannon({
    url: server.url,
    connections,
    duration,
    requests: [
      {
        method: "GET",
        setupRequest: (request) => ({
          ...request,
          path: `${path}${encodeURIComponent(queries[next++ % queries.length])}`,
        }),
      },
    ],
  });
  const peakRss = rss.stop();
  if (result.non2xx > 0 || result.errors > 0 || result.timeouts > 0) {
    throw new Error(
      `${path}: ${result.non2xx} non-2xx (${JSON.stringify(result.statusCodeStats)}), ${result.errors} errors, ${result.timeouts} timeouts`,
    );
  }
  return {
    rps: result.requests.total / duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    rss: peakRss,
  };
}

/** The same statements straight through pg, with as many concurrent callers as connections. */
async function loadBaseline(pool, statements, queries, duration, connections) {
  let next = 0;
  const latencies = [];
  const end = performance.now() + duration * 1000;
  const caller = async () => {
    while (performance.now() < end) {
      const q = queries[next++ % queries.length];
      const started = performance.now();
      await pool.query(statements.get(q));
      latencies.push(performance.now() - started);
    }
  };
  await Promise.all(Array.from({ length: connections }, caller));
  latencies.sort((a, b) => a - b);
  return { rps: latencies.length / duration, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

async function explain(statements, queries) {
  await withClient(benchUrl, async (client) => {
    for (const q of queries) {
      const { text, values } = statements.get(q);
      const { rows } = await client.query({ text: `explain (analyze, buffers) ${text}`, values });
      log(`\n-- ${q}\n${rows.map((row) => row["QUERY PLAN"]).join("\n")}`);
    }
  });
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const vocabulary = buildVocabulary();
  const searchQueries = buildSearchQueries(vocabulary, 400);
  const suggestQueries = buildSuggestQueries(vocabulary, 400);

  const reused = values.reuse && (await holdsSeed());
  if (!reused) {
    log(`Creating ${DB}, migrating with kaira migrate…`);
    await createDatabase();
  }
  let server;
  let pool;
  try {
    await runKaira(["migrate"], { DATABASE_URL: benchUrl });
    let started = performance.now();
    let seedSeconds = 0;
    if (reused) {
      log(`Reusing ${DB}: it holds ${POSTS} posts and ${USERS} users.`);
    } else {
      log(`Seeding ${USERS} users and ${POSTS} posts…`);
      await seed(vocabulary);
      seedSeconds = (performance.now() - started) / 1000;
      log(`  seeded in ${seedSeconds.toFixed(1)} s`);
    }

    const statements = await captureStatements(searchQueries, suggestQueries);
    if (values.explain) {
      await explain(statements.search, searchQueries.slice(0, 8));
      await explain(statements.suggest, suggestQueries.slice(0, 2));
    }

    started = performance.now();
    server = await serveKaira();
    log(`Kaira ready in ${((performance.now() - started) / 1000).toFixed(1)} s at ${server.url}`);
    pool = new pg.Pool({ connectionString: benchUrl, max: POOL_SIZE });

    const scenarios = [
      {
        name: "search",
        path: "/api/v1/search/posts?q=",
        queries: searchQueries,
        statements: statements.search,
      },
      {
        name: "suggest",
        path: "/api/v1/search/suggest?q=",
        queries: suggestQueries,
        statements: statements.suggest,
      },
    ];
    const rows = [];
    for (const scenario of scenarios) {
      for (const connections of CONNECTION_LEVELS) {
        const results = { kaira: [], baseline: [] };
        const args = [scenario.queries, DURATION, connections];
        for (let i = 0; i < RUNS; i++) {
          // A short warm-up each: caches, JIT and the pools' connections.
          await loadKaira(server, scenario.path, scenario.queries, 2, connections);
          results.kaira.push(await loadKaira(server, scenario.path, ...args));
          await loadBaseline(pool, scenario.statements, scenario.queries, 2, connections);
          results.baseline.push(await loadBaseline(pool, scenario.statements, ...args));
          const [k, b] = [results.kaira.at(-1), results.baseline.at(-1)];
          log(
            `  ${scenario.name} ×${connections} run ${i + 1}/${RUNS}: kaira ${k.rps.toFixed(0)} req/s ` +
              `p99 ${k.p99} ms RSS ${k.rss.toFixed(0)} MiB · baseline ${b.rps.toFixed(0)} q/s p99 ${b.p99.toFixed(1)} ms`,
          );
        }
        for (const side of ["kaira", "baseline"]) {
          const list = results[side];
          rows.push({
            scenario: scenario.name,
            connections,
            side,
            rps: median(list.map((r) => r.rps)),
            p50: median(list.map((r) => r.p50)),
            p99: median(list.map((r) => r.p99)),
            rss: side === "kaira" ? Math.max(...list.map((r) => r.rss)) : undefined,
          });
        }
      }
    }

    const cpu = os.cpus()[0]?.model ?? "unknown CPU";
    const [load1] = os.loadavg();
    console.log(
      `\nRun ${new Date().toISOString()} · commit ${gitCommit()} · Node ${process.version} · ${cpu}, ` +
        `${os.cpus().length} cores · load average at end ${load1.toFixed(2)}\n`,
    );
    console.log(
      `${POSTS} posts, ${USERS} users (${reused ? "reused" : `seeded in ${seedSeconds.toFixed(1)} s`}) · ` +
        `${searchQueries.length} search and ${suggestQueries.length} suggest queries in rotation · ` +
        `${RUNS} × ${DURATION} s per row, medians · Kaira on core 0, load on core 1, PostgreSQL unpinned · ` +
        `settings: ${settingsInEnvironment()}\n`,
    );
    console.log(
      "| scenario | connections | measured | req/s | p50 ms | p99 ms | Kaira peak RSS MiB |\n" +
        "| --- | ---: | --- | ---: | ---: | ---: | ---: |",
    );
    for (const row of rows) {
      const label = row.side === "kaira" ? "Kaira over HTTP" : "same SQL through pg";
      console.log(
        `| ${row.scenario} | ${row.connections} | ${label} | ${Math.round(row.rps).toLocaleString("en-US")} | ` +
          `${row.p50.toFixed(1)} | ${row.p99.toFixed(1)} | ${row.rss === undefined ? "—" : row.rss.toFixed(0)} |`,
      );
    }
    console.log(
      "\n| scenario | connections | Kaira / SQL req/s | Kaira p99 − SQL p99 (ms) | Kaira p99 < 30 ms |\n" +
        "| --- | ---: | ---: | ---: | :---: |",
    );
    for (const scenario of scenarios) {
      for (const connections of CONNECTION_LEVELS) {
        const find = (side) =>
          rows.find((r) => r.scenario === scenario.name && r.connections === connections && r.side === side);
        const [k, b] = [find("kaira"), find("baseline")];
        console.log(
          `| ${scenario.name} | ${connections} | ${(k.rps / b.rps).toFixed(2)}× | ${(k.p99 - b.p99).toFixed(1)} | ` +
            `${k.p99 < 30 ? "yes" : "no"} |`,
        );
      }
    }
  } finally {
    await pool?.end();
    await runCleanups(); // Kaira
    if (values.keep || values.reuse) {
      log(`Kept ${DB}.`);
    } else {
      await dropDatabase();
      log(`Dropped ${DB}.`);
    }
  }
}

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    (values.keep || values.reuse ? Promise.resolve() : dropDatabase()).finally(() => process.exit(130));
  });
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
