#!/usr/bin/env node
// Transfers and authentication benchmark, on PostgreSQL.
//
//   npm run bench:transfers -- [--users N] [--duration S] [--connections N] [--runs N]
//
// 1. Fresh database, Kaira pinned to core 0 (the load runs in this process: start it pinned to
//    core 1, as the npm script does).
// 2. Auth check cost: GET /api/v1/users/me (token verified, per-user token version read from the
//    cache) against GET /api/v1/users/{id} (anonymous) — the same single-row read, so the
//    difference is what authentication costs per request.
// 3. Transfers: random pairs among N funded users, every request with a unique Idempotency-Key;
//    transfers/s, latency percentiles, then the ledger invariants checked in SQL.
// Each measured run is repeated `runs` times; the table reports medians.
import { randomUUID } from "node:crypto";
import autocannon from "autocannon";
import { createAccounts } from "./lib/accounts.mjs";
import { parseBenchArgs } from "./lib/cli.mjs";
import { freshDatabase, PG_ADMIN_URL, withClient } from "./lib/database.mjs";
import { median, watchProcess } from "./lib/measure.mjs";
import { handleSignals, runCleanups, startKaira } from "./lib/process.mjs";

const DB = "kaira_bench_transfers";
const ADMIN = { email: "bench-admin@example.com", password: "Velvet-Lantern-Orbit-42" };

const values = parseBenchArgs(import.meta.url, {
  users: { type: "string", default: "100" },
  duration: { type: "string", default: "10" },
  connections: { type: "string", default: "20" },
  runs: { type: "string", default: "3" },
});
const USERS = Number(values.users);
const DURATION = Number(values.duration);
const CONNECTIONS = Number(values.connections);
const RUNS = Number(values.runs);
const OPENING_BALANCE = 1_000_000;

handleSignals();

async function measure(label, serverPid, options) {
  const results = [];
  for (let run = 0; run < RUNS; run++) {
    await autocannon({ ...options, duration: 2 }); // warm-up
    const { result, cpuSeconds, peakRssMiB } = await watchProcess(serverPid, () =>
      autocannon({ ...options, duration: DURATION }),
    );
    const ok = result["2xx"];
    if (result.non2xx > 0 || result.errors > 0) {
      throw new Error(`${label}: ${result.non2xx} non-2xx and ${result.errors} errors`);
    }
    results.push({
      rps: ok / DURATION,
      p50: result.latency.p50,
      p99: result.latency.p99,
      cpuUs: (cpuSeconds * 1e6) / Math.max(1, result.requests.total),
      rss: peakRssMiB,
    });
    process.stderr.write(`  ${label} run ${run + 1}/${RUNS}: ${Math.round(ok / DURATION)} req/s\n`);
  }
  return {
    label,
    rps: median(results.map((r) => r.rps)),
    p50: median(results.map((r) => r.p50)),
    p99: median(results.map((r) => r.p99)),
    cpuUs: median(results.map((r) => r.cpuUs)),
    rss: Math.max(...results.map((r) => r.rss)),
  };
}

async function main() {
  const databaseUrl = await freshDatabase(PG_ADMIN_URL, DB);
  const server = await startKaira({
    DATABASE_URL: databaseUrl,
    LOG_LEVEL: "warn",
    RATE_LIMIT_PER_MINUTE: "0",
    SIGNUP_PER_HOUR: "0",
    LOGIN_MAX_FAILURES_PER_ADDRESS: "100000",
    ADMIN_EMAIL: ADMIN.email,
    ADMIN_PASSWORD: ADMIN.password,
  });
  const base = server.url;
  process.stderr.write(`Creating and funding ${USERS} users…\n`);
  const users = await createAccounts(base, { count: USERS, admin: ADMIN, openingBalance: OPENING_BALANCE });
  const pick = () => users[Math.floor(Math.random() * users.length)];
  const common = { url: base, connections: CONNECTIONS, pipelining: 1 };

  const rows = [];
  rows.push(
    await measure("profile, anonymous (GET /users/{id})", server.pid, {
      ...common,
      requests: [{ method: "GET", setupRequest: (req) => ({ ...req, path: `/api/v1/users/${pick().id}` }) }],
    }),
  );
  rows.push(
    await measure("profile, authenticated (GET /users/me)", server.pid, {
      ...common,
      requests: [
        {
          method: "GET",
          setupRequest: (req) => ({
            ...req,
            path: "/api/v1/users/me",
            headers: { ...req.headers, authorization: `Bearer ${pick().token}` },
          }),
        },
      ],
    }),
  );
  rows.push(
    await measure("transfer (POST /transfers, unique keys)", server.pid, {
      ...common,
      requests: [
        {
          method: "POST",
          setupRequest: (req) => {
            const from = pick();
            let to = pick();
            while (to === from) to = pick();
            return {
              ...req,
              path: "/api/v1/transfers",
              headers: {
                ...req.headers,
                authorization: `Bearer ${from.token}`,
                "content-type": "application/json",
                "idempotency-key": randomUUID(),
              },
              body: JSON.stringify({ to_user_id: to.id, amount: 1 + Math.floor(Math.random() * 100) }),
            };
          },
        },
      ],
    }),
  );

  const { rows: checks } = await withClient(databaseUrl, (client) =>
    client.query(`
    select (select sum(balance) from users)::bigint as balances,
           (select sum(amount) from ledger_entries)::bigint as ledger,
           (select count(*) from users where balance < 0)::int as negatives,
           (select count(*) from transfers)::int as transfers,
           (select count(*) from (select transfer_id from ledger_entries where transfer_id is not null
              group by transfer_id having sum(amount) <> 0 or count(*) <> 2) x)::int as unbalanced`),
  );
  const check = checks[0];
  const expectedTotal = USERS * OPENING_BALANCE;
  const invariantsHold =
    Number(check.balances) === expectedTotal &&
    Number(check.ledger) === expectedTotal &&
    check.negatives === 0 &&
    check.unbalanced === 0;

  const [anonymous, authenticated] = rows;
  const lines = [
    `Run ${new Date().toISOString()} · Node ${process.version} · ${USERS} users · ${CONNECTIONS} connections · ${RUNS} × ${DURATION} s, medians · PostgreSQL`,
    "",
    "| scenario | req/s | p50 ms | p99 ms | server CPU µs/req | peak RSS MiB |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
    ...rows.map(
      (r) =>
        `| ${r.label} | ${Math.round(r.rps).toLocaleString("en")} | ${r.p50} | ${r.p99} | ${Math.round(r.cpuUs)} | ${r.rss.toFixed(0)} |`,
    ),
    "",
    `Authentication costs ${Math.round(authenticated.cpuUs - anonymous.cpuUs)} µs of server CPU per request ` +
      `(authenticated/anonymous throughput ${(authenticated.rps / anonymous.rps).toFixed(2)}×).`,
    `Ledger after ${check.transfers.toLocaleString("en")} transfers: total ${Number(check.balances).toLocaleString("en")} ` +
      `(expected ${expectedTotal.toLocaleString("en")}), ledger sum ${Number(check.ledger).toLocaleString("en")}, ` +
      `negative balances ${check.negatives}, unbalanced transfers ${check.unbalanced} → ` +
      `${invariantsHold ? "invariants hold" : "INVARIANTS BROKEN"}.`,
  ];
  console.log(lines.join("\n"));
  if (!invariantsHold) process.exitCode = 1;
}

try {
  await main();
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
} finally {
  await runCleanups();
}
