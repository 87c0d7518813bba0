#!/usr/bin/env node
// Search under load, on PostgreSQL: do broad searches leave the rest of the API alone?
// DATABASE_URL is an admin URL (e.g. postgres://postgres@127.0.0.1:5432/postgres).
//
//   npm run bench:search-load -- [--db NAME] [--posts N] [--users N] [--vocabulary N]
//                                [--duration S] [--clients N] [--profile-clients N] [--runs N]
//                                [--kinds common,rare,phrases] [--explain] [--honor-retry-after]
//
// 1. The database NAME (default kaira_bench_search_load) is created and filled with the app's
//    own CLI, `kaira seed --users 50000 --posts 1000000 --vocabulary 5000`, unless it already
//    holds that many posts (then it is reused: seeding a million posts takes minutes).
// 2. `kaira serve` on core 0 with the read cache off (CACHE_TTL_SECONDS=0: every profile is
//    read from the database), the global rate limit off, everything else at its defaults
//    (pool of 10, SEARCH_CONCURRENCY half the cores, SEARCH_TIMEOUT_MS 2000, SEARCH_RANK_WINDOW 10000).
// 3. Idle: `--profile-clients` (2) closed-loop clients read GET /api/v1/users/{id} alone.
// 4. For each kind of search — common words, rare words, phrases — `--clients` (8) signed-in
//    users search in closed loops (each its own user, so each has its own per-client share),
//    while the same profile clients keep reading. Reported: search p50/p99/max, the share of
//    each status, and the profile p99 beside its idle figure.
// 5. Steps 3–4 (and an idle row after) run `--runs` (3) times on the same server; the table
//    gives the median of each column over the runs, the maximum search time of all runs, and
//    the CPU seconds Kaira and the database's backends spent per row (/proc, clock ticks), and
//    the largest RSS Kaira's process reached in that row's runs.
import os from "node:os";
import pg from "pg";
import { parseBenchArgs } from "./lib/cli.mjs";
import { databaseUrl, withClient } from "./lib/database.mjs";
import { cpuSeconds, median, percentile, sampleRss } from "./lib/measure.mjs";
import { runCleanups, runKaira, startKaira } from "./lib/process.mjs";

const values = parseBenchArgs(import.meta.url, {
  db: { type: "string", default: "kaira_bench_search_load" },
  posts: { type: "string", default: "1000000" },
  users: { type: "string", default: "50000" },
  vocabulary: { type: "string", default: "5000" },
  duration: { type: "string", default: "20" },
  clients: { type: "string", default: "8" },
  "profile-clients": { type: "string", default: "2" },
  runs: { type: "string", default: "3" },
  kinds: { type: "string", default: "common,rare,phrases" },
  explain: { type: "boolean", default: false },
  "honor-retry-after": { type: "boolean", default: false },
});
const RUNS = Number(values.runs);
const KINDS = values.kinds.split(",");
const POSTS = Number(values.posts);
const DURATION_MS = Number(values.duration) * 1000;
const SEARCH_CLIENTS = Number(values.clients);
const PROFILE_CLIENTS = Number(values["profile-clients"]);
const VOCABULARY = Number(values.vocabulary);
if (!/^[a-z_][a-z0-9_]*$/.test(values.db)) throw new Error("--db must be a plain database name");

const ADMIN_URL = process.env.DATABASE_URL;
if (!ADMIN_URL) {
  console.error("DATABASE_URL is required (an admin URL; the benchmark creates its own database)");
  process.exit(2);
}
const benchUrl = databaseUrl(ADMIN_URL, values.db);

const STOP_WORDS = new Set(["sit", "do", "ut", "et", "sed"]);
const log = (line) => process.stderr.write(`${line}\n`);
const loadAverage = () =>
  os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(" / ");

/**
 * CPU of Kaira and of the PostgreSQL backends connected to the bench database: a snapshot
 * before a row and the difference after. Backends are found through pg_stat_activity; one
 * that started during the row counts from zero, one that ended during it is lost (the pool
 * keeps its connections while it is busy, so that is rare).
 */
async function cpuSnapshot(monitor, kairaPid) {
  const { rows } = await monitor.query(
    "select pid from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()",
    [values.db],
  );
  const backends = new Map(rows.map((row) => [row.pid, cpuSeconds(row.pid) ?? 0]));
  return { kaira: cpuSeconds(kairaPid) ?? 0, backends };
}
async function cpuSince(monitor, kairaPid, before) {
  const after = await cpuSnapshot(monitor, kairaPid);
  let database = 0;
  for (const [pid, seconds] of after.backends) database += seconds - (before.backends.get(pid) ?? 0);
  return { kaira: after.kaira - before.kaira, database };
}

/** Reuses the database when it already holds the posts; otherwise creates and seeds it. */
async function prepareDatabase() {
  const exists = await withClient(ADMIN_URL, async (client) => {
    const { rows } = await client.query("select 1 from pg_database where datname = $1", [values.db]);
    return rows.length > 0;
  });
  if (exists) {
    const posts = await withClient(benchUrl, async (client) => {
      const { rows } = await client
        .query("select count(*)::int as n from posts")
        .catch(() => ({ rows: [{ n: 0 }] }));
      return rows[0].n;
    });
    if (posts >= POSTS) {
      log(`Reusing ${values.db} (${posts} posts).`);
      return { seededSeconds: undefined, posts };
    }
    await withClient(ADMIN_URL, (client) => client.query(`drop database ${values.db} with (force)`));
  }
  await withClient(ADMIN_URL, (client) => client.query(`create database ${values.db}`));
  log(`Seeding ${values.db}: ${values.users} users, ${POSTS} posts, ${VOCABULARY} words…`);
  const started = performance.now();
  await runKaira(
    ["seed", "--users", values.users, "--posts", String(POSTS), "--vocabulary", String(VOCABULARY)],
    { DATABASE_URL: benchUrl },
  );
  const seededSeconds = (performance.now() - started) / 1000;
  await withClient(benchUrl, (client) => client.query("vacuum analyze posts"));
  return { seededSeconds, posts: POSTS };
}

function serveKaira() {
  return startKaira({
    DATABASE_URL: benchUrl,
    LOG_LEVEL: "error",
    RATE_LIMIT_PER_MINUTE: "0",
    CACHE_TTL_SECONDS: "0",
    NODE_ENV: "development",
  });
}

async function signUp(base, n) {
  const suffix = `${Date.now().toString(36)}_${n}`;
  const body = { email: `load_${suffix}@example.com`, username: `load_${suffix}`, password: "LoadBench-123" };
  const created = await fetch(`${base}/api/v1/users`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (created.status !== 201) throw new Error(`sign-up: ${created.status} ${await created.text()}`);
  const { id } = await created.json();
  const token = await fetch(`${base}/api/v1/auth/token`, {
    method: "POST",
    body: new URLSearchParams({ username: body.username, password: body.password }),
  });
  if (token.status !== 200) throw new Error(`login: ${token.status}`);
  return { id, access: (await token.json()).access_token };
}

/**
 * A closed-loop client: sends the next request as soon as the last answered — or, with
 * --honor-retry-after, after the Retry-After of a 429/503, as a well-behaved client would.
 */
async function closedLoop(until, nextRequest, record) {
  while (performance.now() < until) {
    const { url, headers } = nextRequest();
    const started = performance.now();
    let status;
    let code;
    let retryAfterSeconds = 0;
    try {
      const res = await fetch(url, { headers });
      status = res.status;
      const body = await res.text();
      if (status !== 200) code = JSON.parse(body).code;
      retryAfterSeconds = Number(res.headers.get("retry-after") ?? 0) || 0;
    } catch {
      status = "error";
    }
    record(performance.now() - started, status, code);
    if (values["honor-retry-after"] && retryAfterSeconds > 0) {
      await new Promise((resolve) =>
        setTimeout(resolve, Math.min(retryAfterSeconds * 1000, until - performance.now())),
      );
    }
  }
}

function summary(latencies, outcomes) {
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    n: sorted.length,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted.at(-1),
    outcomes,
  };
}

async function measure(base, profileIds, searchClients, queries) {
  const until = performance.now() + DURATION_MS;
  const profile = [];
  const profileOutcomes = {};
  const search = [];
  const searchOutcomes = {};
  const count = (outcomes, status, code) => {
    const key = code ? `${status} ${code}` : String(status);
    outcomes[key] = (outcomes[key] ?? 0) + 1;
  };
  let nextProfile = 0;
  let nextQuery = 0;
  await Promise.all([
    ...Array.from({ length: PROFILE_CLIENTS }, () =>
      closedLoop(
        until,
        () => ({ url: `${base}/api/v1/users/${profileIds[nextProfile++ % profileIds.length]}` }),
        (ms, status, code) => {
          profile.push(ms);
          count(profileOutcomes, status, code);
        },
      ),
    ),
    ...(queries
      ? searchClients.map((client) =>
          closedLoop(
            until,
            () => ({
              url: `${base}/api/v1/search/posts?q=${encodeURIComponent(queries[nextQuery++ % queries.length])}`,
              headers: { authorization: `Bearer ${client.access}` },
            }),
            (ms, status, code) => {
              search.push(ms);
              count(searchOutcomes, status, code);
            },
          ),
        )
      : []),
  ]);
  return { profile: summary(profile, profileOutcomes), search: summary(search, searchOutcomes) };
}

/** EXPLAIN ANALYZE of the search statement Kaira sends: every common-word query, two of each other kind. */
async function explain(queries) {
  const { searchStatement } = await import("./search-statement.mjs");
  await withClient(benchUrl, async (client) => {
    // As Kaira runs a search: one backend (see useOneBackend in the search repository).
    await client.query("set max_parallel_workers_per_gather = 0");
    for (const [kind, list] of Object.entries(queries)) {
      for (const q of list.slice(0, kind === "common words" ? list.length : 2)) {
        const { text, params } = await searchStatement(q);
        const started = performance.now();
        const { rows } = await client.query(`explain (analyze, buffers) ${text}`, params);
        log(`\n--- ${kind}: ${q} (${(performance.now() - started).toFixed(0)} ms)`);
        for (const row of rows) log(row["QUERY PLAN"]);
      }
    }
  });
}

async function main() {
  const { register } = await import("tsx/esm/api");
  register();
  const { seedVocabulary } = await import("../src/cli/seed.ts");
  // The seed draws word i with a skew: the first words are in most posts, the last in few.
  // Lorem words that are English stop words would find nothing; they are left out.
  const words = seedVocabulary(VOCABULARY).filter((word) => !STOP_WORDS.has(word));
  const common = words.slice(0, 8);
  const rare = words.slice(-400);
  const allQueries = {
    common: ["common words", [...common, `${common[0]} ${common[1]}`, `${common[2]} ${common[3]}`]],
    rare: ["rare words", rare],
    phrases: [
      "phrases",
      Array.from({ length: 40 }, (_, i) => `"${words[i % 20]} ${words[(i * 7 + 3) % 20]}"`),
    ],
  };
  const queries = Object.fromEntries(KINDS.map((kind) => allQueries[kind]));

  const { seededSeconds, posts } = await prepareDatabase();
  if (values.explain) await explain(queries);
  const server = await serveKaira();
  const monitor = new pg.Client({ connectionString: benchUrl });
  await monitor.connect();
  try {
    const searchers = [];
    for (let i = 0; i < SEARCH_CLIENTS; i++) searchers.push(await signUp(server.url, i));
    const profileIds = await withClient(benchUrl, async (client) => {
      const { rows } = await client.query("select id from users order by random() limit 1000");
      return rows.map((row) => row.id);
    });
    // Warm-up: the profile path and a few searches.
    await measure(server.url, profileIds, searchers.slice(0, 1), null);

    const rowNames = ["none (idle)", ...Object.keys(queries), "none (idle, after)"];
    /** rowName → one result per run */
    const results = new Map(rowNames.map((name) => [name, []]));
    const startLoad = loadAverage();
    for (let run = 1; run <= RUNS; run++) {
      let idleP99 = Number.NaN;
      for (const name of rowNames) {
        const list = queries[name] ?? null;
        const load = os.loadavg()[0];
        log(
          `run ${run}/${RUNS} · ${name}${list ? `: ${SEARCH_CLIENTS} search clients + profiles` : ": profiles only"} · load ${load.toFixed(2)}`,
        );
        const before = await cpuSnapshot(monitor, server.pid);
        const rss = sampleRss(server.pid);
        const result = await measure(server.url, profileIds, searchers, list);
        const peakRss = rss.stop();
        const cpu = await cpuSince(monitor, server.pid, before);
        if (name === "none (idle)") idleP99 = result.profile.p99;
        const row = { ...result, load, cpu, rss: peakRss, ratio: result.profile.p99 / idleP99 };
        results.get(name).push(row);
        log(
          `  search n=${row.search.n} p50=${row.search.p50?.toFixed(1)} p99=${row.search.p99?.toFixed(1)} max=${row.search.max?.toFixed(1)} ` +
            `${JSON.stringify(row.search.outcomes)} · profile n=${row.profile.n} p99=${row.profile.p99.toFixed(1)} (${row.ratio.toFixed(2)}× idle) ` +
            `${JSON.stringify(row.profile.outcomes)} · CPU s: kaira ${cpu.kaira.toFixed(2)}, database ${cpu.database.toFixed(2)} · ` +
            `RSS ${peakRss.toFixed(0)} MiB`,
        );
      }
    }
    const endLoad = loadAverage();

    const seconds = DURATION_MS / 1000;
    const fmt = (x, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : "—");
    const share = (runs) => {
      const outcomes = {};
      let n = 0;
      for (const r of runs) {
        for (const [key, count] of Object.entries(r.outcomes)) outcomes[key] = (outcomes[key] ?? 0) + count;
        n += r.n;
      }
      if (n === 0) return "—";
      return Object.entries(outcomes)
        .sort((a, b) => b[1] - a[1])
        .map(([key, count]) => `${key}: ${((100 * count) / n).toFixed(1)}%`)
        .join(", ");
    };
    const out = [];
    out.push(
      `Run ${new Date().toISOString()} · Node ${process.version} · ${os.cpus().length} × ${os.cpus()[0]?.model.trim()} · ` +
        `load average (1/5/15 min) at start ${startLoad}, at end ${endLoad}`,
    );
    out.push("");
    out.push(
      `${posts} posts (${seededSeconds ? `seeded in ${seededSeconds.toFixed(0)} s` : "reused"}), vocabulary ${VOCABULARY} · ` +
        `${SEARCH_CLIENTS} search clients, ${PROFILE_CLIENTS} profile clients, closed loops${values["honor-retry-after"] ? " (waiting out Retry-After)" : ""}, ${seconds} s per row · ` +
        `${RUNS} runs, medians (max: of all runs; outcomes: all runs) · read cache off · Kaira on core 0, PostgreSQL unpinned · ` +
        `settings: ${
          Object.entries(process.env)
            .filter(([name]) => /^(SEARCH_|DATABASE_POOL_SIZE|DATABASE_STATEMENT_TIMEOUT_MS)/.test(name))
            .map(([name, value]) => `${name}=${value}`)
            .join(", ") || "defaults"
        }`,
    );
    out.push("");
    out.push(
      "| searches | load (1 min) | search req/s | search p50 ms | search p99 ms | search max ms | search outcomes | profile req/s | profile p99 ms | profile p99 ÷ idle | profile outcomes | CPU s Kaira / database | Kaira peak RSS MiB |",
    );
    out.push("| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | --- | ---: | ---: |");
    for (const name of rowNames) {
      const runs = results.get(name);
      const m = (pick) => median(runs.map(pick));
      const searched = runs.some((r) => r.search.n > 0);
      out.push(
        `| ${name} | ${runs.map((r) => r.load.toFixed(1)).join(", ")} | ${searched ? fmt(m((r) => r.search.n / seconds)) : "—"} | ` +
          `${fmt(m((r) => r.search.p50))} | ${fmt(m((r) => r.search.p99))} | ${searched ? fmt(Math.max(...runs.map((r) => r.search.max))) : "—"} | ` +
          `${share(runs.map((r) => r.search))} | ${fmt(m((r) => r.profile.n / seconds))} | ${fmt(m((r) => r.profile.p99))} | ` +
          `${fmt(
            m((r) => r.ratio),
            2,
          )}× | ${share(runs.map((r) => r.profile))} | ${fmt(m((r) => r.cpu.kaira))} / ${fmt(m((r) => r.cpu.database))} | ` +
          `${fmt(Math.max(...runs.map((r) => r.rss)), 0)} |`,
      );
    }
    out.push("");
    out.push(
      `Queries — ${Object.entries(queries)
        .map(
          ([kind, list]) =>
            `${kind}: ${list.length > 10 ? `${list.slice(0, 3).join(", ")}, … (${list.length})` : list.join(", ")}`,
        )
        .join("; ")}`,
    );
    console.log(out.join("\n"));
  } finally {
    await monitor.end();
    await runCleanups(); // Kaira
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
