#!/usr/bin/env node
// Write-path benchmark: Kaira beside the bare node:http + pg baseline (bench/baseline-server.mjs)
// on the same database, for the routes that write or authenticate.
//
//   npm run bench:writes -- [--db postgres|embedded|both] [--duration S] [--warmup S]
//                           [--connections N] [--runs N] [--accounts N] [--transfer-clients 8,32,128]
//                           [--server both|kaira|baseline] [--scenarios me,post create,transfer]
//                           [--cpu-prof DIR]   (Kaira runs with node --cpu-prof; see bench/profile-summary.mjs)
//
// Scenarios (each `--runs` times per server, alternating, medians):
//   me            GET /api/v1/users/me        token verified, the caller's row read
//   post create   POST /api/v1/posts          the post and its outbox event in one transaction
//   transfer      POST /api/v1/transfers      a fresh Idempotency-Key per request
// then transfers alone through Kaira at each of `--transfer-clients` concurrent clients, with the
// bank invariant checked in SQL after every run (the script exits non-zero if it breaks).
//
// CPU per request is the server process's utime + stime (/proc/<pid>/stat, every thread) over the
// measured run divided by the requests it completed; PostgreSQL's backends are not counted on
// either side. The script itself generates the load: `npm run bench:writes` pins it to core 1,
// both servers run on core 0 (taskset), PostgreSQL — the embedded server too — is not pinned.
import { randomBytes, randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import autocannon from "autocannon";
import pg from "pg";
import { createAccounts } from "./lib/accounts.mjs";
import { parseBenchArgs } from "./lib/cli.mjs";
import { embeddedDatabase, freshDatabase, PG_ADMIN_URL } from "./lib/database.mjs";
import { median, watchProcess } from "./lib/measure.mjs";
import {
  childEnv,
  gitCommit,
  handleSignals,
  ROOT,
  runCleanups,
  runKaira,
  startKaira,
  startServer,
} from "./lib/process.mjs";

const DB = "kaira_bench_writes";
const ADMIN = { email: "bench-admin@example.com", password: "Velvet-Lantern-Orbit-42" };
const SECRET_KEY = randomBytes(32).toString("hex");
const OPENING_BALANCE = 1_000_000;

const values = parseBenchArgs(import.meta.url, {
  db: { type: "string", default: "postgres" },
  duration: { type: "string", default: "10" },
  warmup: { type: "string", default: "2" },
  connections: { type: "string", default: "50" },
  runs: { type: "string", default: "3" },
  accounts: { type: "string", default: "100" },
  users: { type: "string", default: "1000" },
  posts: { type: "string", default: "20000" },
  "transfer-clients": { type: "string", default: "8,32,128" },
  server: { type: "string", default: "both" },
  scenarios: { type: "string", default: "me,post create,transfer" },
  "cpu-prof": { type: "string" },
  output: { type: "string", default: join(ROOT, "bench", "results", "writes.md") },
});
const DURATION = Number(values.duration);
const WARMUP = Number(values.warmup);
const CONNECTIONS = Number(values.connections);
const RUNS = Number(values.runs);
const ACCOUNTS = Number(values.accounts);
const TRANSFER_CLIENTS = values["transfer-clients"].split(",").filter(Boolean).map(Number);
const MODES = values.db === "both" ? ["postgres", "embedded"] : [values.db];
if (MODES.some((mode) => mode !== "postgres" && mode !== "embedded")) {
  console.error(`--db must be postgres, embedded or both, not ${values.db}`);
  process.exit(2);
}
const SERVERS = values.server === "both" ? ["kaira", "baseline"] : [values.server];

const load1 = () => os.loadavg()[0].toFixed(2);
const log = (line) => process.stderr.write(`${line}\n`);
handleSignals();

function scenarios(accounts) {
  const pick = () => accounts[Math.floor(Math.random() * accounts.length)];
  const words = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima".split(" ");
  const sentence = (n) =>
    Array.from({ length: n }, () => words[Math.floor(Math.random() * words.length)]).join(" ");
  return {
    me: () => ({
      method: "GET",
      path: "/api/v1/users/me",
      headers: { authorization: `Bearer ${pick().token}` },
    }),
    "post create": () => ({
      method: "POST",
      path: "/api/v1/posts",
      headers: { authorization: `Bearer ${pick().token}`, "content-type": "application/json" },
      body: JSON.stringify({
        title: sentence(6),
        content: sentence(40),
        tags: ["bench", words[Math.floor(Math.random() * 12)]],
      }),
    }),
    transfer: () => {
      const from = pick();
      let to = pick();
      while (to === from) to = pick();
      return {
        method: "POST",
        path: "/api/v1/transfers",
        headers: {
          authorization: `Bearer ${from.token}`,
          "content-type": "application/json",
          "idempotency-key": randomUUID(),
        },
        body: JSON.stringify({ to_user_id: to.id, amount: 1 + Math.floor(Math.random() * 100) }),
      };
    },
  };
}

function load(base, request, connections, duration) {
  return autocannon({
    url: base,
    connections,
    duration,
    pipelining: 1,
    requests: [{ setupRequest: (req) => ({ ...req, ...request() }) }],
  });
}

/** One measured run: warm-up, then the run with the server's CPU and peak RSS around it. */
async function measuredRun(server, label, request, connections) {
  const warm = await load(server.url, request, connections, WARMUP);
  if (warm.non2xx > 0 || warm.errors > 0) throw new Error(`${label} warm-up on ${server.name}: errors`);
  const loadAvg = load1();
  const startedUs = monotonicUs();
  const {
    result,
    cpuSeconds,
    peakRssMiB: peakRss,
  } = await watchProcess(server.pid, () => load(server.url, request, connections, DURATION));
  profileWindows.push({
    server: server.name,
    scenario: label,
    connections,
    startUs: startedUs,
    endUs: monotonicUs(),
  });
  if (result.non2xx > 0 || result.errors > 0 || result.timeouts > 0) {
    throw new Error(
      `${label} on ${server.name}: ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts`,
    );
  }
  const run = {
    rps: result["2xx"] / DURATION,
    p50: result.latency.p50,
    p99: result.latency.p99,
    cpuUs: (cpuSeconds * 1e6) / Math.max(1, result["2xx"]),
    rss: peakRss,
    load: loadAvg,
  };
  log(
    `  ${label} · ${server.name} · ${connections} conn: ${Math.round(run.rps)} req/s, p99 ${run.p99} ms, ` +
      `${Math.round(run.cpuUs)} µs CPU/req, RSS ${run.rss.toFixed(0)} MiB, load ${loadAvg}`,
  );
  return run;
}

// CLOCK_MONOTONIC is shared by every process, and V8 stamps its CPU profiles with it: these
// windows let bench/profile-summary.mjs count only the samples of one scenario's measured runs.
const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);
const profileWindows = [];

function summarize(runs) {
  return {
    rps: median(runs.map((r) => r.rps)),
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
    cpuUs: median(runs.map((r) => r.cpuUs)),
    rss: Math.max(...runs.map((r) => r.rss)),
    load: runs.map((r) => r.load).join(" / "),
  };
}

async function ledgerCheck(url) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query(`
      select (select sum(balance) from users)::bigint as balances,
             (select sum(amount) from ledger_entries)::bigint as ledger,
             (select sum(amount) from ledger_entries where kind = 'mint')::bigint as minted,
             (select count(*) from users where balance < 0)::int as negatives,
             (select count(*) from transfers)::int as transfers,
             (select count(*) from (select transfer_id from ledger_entries where transfer_id is not null
                group by transfer_id having sum(amount) <> 0 or count(*) <> 2) x)::int as unbalanced`);
    const c = rows[0];
    const holds = c.balances === c.ledger && c.ledger === c.minted && c.negatives === 0 && c.unbalanced === 0;
    return { ...c, holds };
  } finally {
    await client.end();
  }
}

async function benchMode(mode, rows, scaling) {
  try {
    // Kaira as production runs it: the compiled dist/ (`npm run build` first; bin/kaira.js refuses
    // a dist/ older than src/), NODE_ENV=production.
    let env = {
      NODE_ENV: "production",
      LOG_LEVEL: "warn",
      RATE_LIMIT_PER_MINUTE: "0",
      SIGNUP_PER_HOUR: "0",
      LOGIN_MAX_FAILURES_PER_ADDRESS: "100000",
      DATABASE_POOL_SIZE: "10",
      SECRET_KEY,
      ADMIN_EMAIL: ADMIN.email,
      ADMIN_PASSWORD: ADMIN.password,
    };
    // The embedded server is started (unpinned) before Kaira, which attaches to it; the baseline
    // connects to it with the URL of `kaira db url`.
    let databaseUrl;
    if (mode === "postgres") {
      databaseUrl = await freshDatabase(PG_ADMIN_URL, DB);
      env = { ...env, DATABASE_URL: databaseUrl };
    } else {
      const embedded = await embeddedDatabase("kaira-bench-writes-");
      databaseUrl = embedded.url;
      env = { ...env, ...embedded.env };
    }
    log(`[${mode}] seeding ${values.users} users / ${values.posts} posts…`);
    await runKaira(["seed", "--users", values.users, "--posts", values.posts], env);

    const profiling = (server) => {
      if (!values["cpu-prof"]) return [];
      const dir = join(values["cpu-prof"], mode, server);
      mkdirSync(dir, { recursive: true });
      return ["--cpu-prof", `--cpu-prof-dir=${dir}`];
    };
    const kaira = await startKaira(env, { nodeArgs: profiling("kaira") });
    let baseline;
    if (SERVERS.includes("baseline")) {
      baseline = await startServer({
        name: "baseline",
        nodeArgs: profiling("baseline"),
        script: join(ROOT, "bench", "baseline-server.mjs"),
        env: childEnv({ DATABASE_URL: databaseUrl, SECRET_KEY }),
      });
    }
    log(`[${mode}] creating and funding ${ACCOUNTS} accounts…`);
    const accounts = await createAccounts(kaira.url, {
      count: ACCOUNTS,
      admin: ADMIN,
      openingBalance: OPENING_BALANCE,
    });
    const requests = scenarios(accounts);
    const servers = [kaira, baseline].filter((s) => s && SERVERS.includes(s.name));

    const chosen = values.scenarios.split(",").map((name) => name.trim());
    for (const [label, request] of Object.entries(requests).filter(([name]) => chosen.includes(name))) {
      const perServer = new Map(servers.map((s) => [s.name, []]));
      for (let run = 0; run < RUNS; run++) {
        for (const server of servers)
          perServer.get(server.name).push(await measuredRun(server, label, request, CONNECTIONS));
      }
      for (const server of servers)
        rows.push({ mode, server: server.name, scenario: label, ...summarize(perServer.get(server.name)) });
    }
    const check = await ledgerCheck(databaseUrl);
    if (!check.holds) throw new Error(`[${mode}] ledger invariants broken: ${JSON.stringify(check)}`);

    if (SERVERS.includes("kaira")) {
      for (const clients of TRANSFER_CLIENTS) {
        const runs = [];
        const checks = [];
        for (let run = 0; run < RUNS; run++) {
          runs.push(await measuredRun(kaira, "transfer", requests.transfer, clients));
          const after = await ledgerCheck(databaseUrl);
          checks.push(after);
          if (!after.holds) throw new Error(`[${mode}] ledger invariants broken: ${JSON.stringify(after)}`);
        }
        const last = checks[checks.length - 1];
        scaling.push({ mode, clients, ...summarize(runs), transfers: last.transfers, total: last.balances });
      }
    }
  } finally {
    // The servers, then the database they used (registered first, so it goes last).
    await runCleanups();
  }
}

async function main() {
  const commit = gitCommit();
  const startLoad = load1();
  const rows = [];
  const scaling = [];
  for (const mode of MODES) await benchMode(mode, rows, scaling);

  const fmt = (n) => Math.round(n).toLocaleString("en");
  const lines = [
    `Run ${new Date().toISOString()} · commit ${commit} · Node ${process.version} · ${os.cpus()[0]?.model ?? "?"} × ${os.cpus().length} · load average at start ${startLoad}`,
    "",
    `${values.users} seeded users, ${values.posts} posts, ${ACCOUNTS} bench accounts · ${CONNECTIONS} connections · ${RUNS} × ${DURATION} s measured (after ${WARMUP} s warm-up), medians · servers on core 0, load on core 1`,
    "",
    "| db | server | scenario | req/s | p50 ms | p99 ms | CPU µs/req | peak RSS MiB | load (1 min) per run |",
    "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ...rows.map(
      (r) =>
        `| ${r.mode} | ${r.server} | ${r.scenario} | ${fmt(r.rps)} | ${r.p50} | ${r.p99} | ${fmt(r.cpuUs)} | ${r.rss.toFixed(0)} | ${r.load} |`,
    ),
  ];
  const ratioLines = [];
  for (const mode of MODES) {
    for (const scenario of ["me", "post create", "transfer"]) {
      const k = rows.find((r) => r.mode === mode && r.server === "kaira" && r.scenario === scenario);
      const b = rows.find((r) => r.mode === mode && r.server === "baseline" && r.scenario === scenario);
      if (!k || !b) continue;
      const ratio = k.cpuUs / b.cpuUs;
      ratioLines.push(
        `| ${mode} | ${scenario} | ${fmt(k.cpuUs)} | ${fmt(b.cpuUs)} | ${ratio.toFixed(2)}× | ${ratio <= 1.4 ? "yes" : "no"} | ${(k.rps / b.rps).toFixed(2)}× |`,
      );
    }
  }
  if (ratioLines.length) {
    lines.push(
      "",
      "| db | scenario | Kaira CPU µs/req | baseline CPU µs/req | CPU ratio | ≤ 1.4× | req/s ratio |",
      "| --- | --- | ---: | ---: | ---: | :---: | ---: |",
      ...ratioLines,
    );
  }
  if (scaling.length) {
    lines.push(
      "",
      "Transfers through Kaira by concurrent clients (bank invariant checked after every run):",
      "",
      "| db | clients | transfers/s | p50 ms | p99 ms | CPU µs/transfer | ≤ 800 µs | peak RSS MiB | ledger after the runs | load per run |",
      "| --- | ---: | ---: | ---: | ---: | ---: | :---: | ---: | --- | --- |",
      ...scaling.map(
        (r) =>
          `| ${r.mode} | ${r.clients} | ${fmt(r.rps)} | ${r.p50} | ${r.p99} | ${fmt(r.cpuUs)} | ${r.cpuUs <= 800 ? "yes" : "no"} | ${r.rss.toFixed(0)} | ${fmt(r.transfers)} transfers, total ${fmt(Number(r.total))} = minted, invariants hold | ${r.load} |`,
      ),
    );
  }
  if (values["cpu-prof"])
    writeFileSync(join(values["cpu-prof"], "windows.json"), JSON.stringify(profileWindows, null, 1));
  const text = lines.join("\n");
  console.log(text);
  mkdirSync(join(ROOT, "bench", "results"), { recursive: true });
  writeFileSync(values.output, `${text}\n`);
}

main().catch((error) => {
  console.error(error instanceof Error ? error.stack : error);
  process.exit(1);
});
