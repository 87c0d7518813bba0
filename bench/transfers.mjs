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
import { execFileSync, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import net from "node:net";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import pg from "pg";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const ADMIN_URL = process.env.BENCH_PG_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const DB = "kaira_bench_transfers";
const ADMIN = { email: "bench-admin@example.com", password: "Velvet-Lantern-Orbit-42" };

const { values } = parseArgs({
  options: {
    users: { type: "string", default: "100" },
    duration: { type: "string", default: "10" },
    connections: { type: "string", default: "20" },
    runs: { type: "string", default: "3" },
  },
});
const USERS = Number(values.users);
const DURATION = Number(values.duration);
const CONNECTIONS = Number(values.connections);
const RUNS = Number(values.runs);
const OPENING_BALANCE = 1_000_000;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const dbUrl = () => {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${DB}`;
  return url.toString();
};

async function admin(sql) {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

function freePort() {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const CLK_TCK = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
function cpuTicks(pid) {
  // Fields after the command name: utime and stime are the 12th and 13th.
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

async function api(base, method, path, { token, body, form, headers = {} } = {}) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body ? { "content-type": "application/json" } : {}),
      ...headers,
    },
    body: form ? new URLSearchParams(form) : body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path} → ${res.status}: ${text}`);
  return text ? JSON.parse(text) : undefined;
}

async function measure(label, serverPid, options) {
  const results = [];
  for (let run = 0; run < RUNS; run++) {
    await autocannon({ ...options, duration: 2 }); // warm-up
    const before = cpuTicks(serverPid);
    const result = await autocannon({ ...options, duration: DURATION });
    const after = cpuTicks(serverPid);
    const ok = result["2xx"];
    if (result.non2xx > 0 || result.errors > 0) {
      throw new Error(`${label}: ${result.non2xx} non-2xx and ${result.errors} errors`);
    }
    results.push({
      rps: ok / DURATION,
      p50: result.latency.p50,
      p99: result.latency.p99,
      cpuUs: (((after - before) / CLK_TCK) * 1e6) / Math.max(1, result.requests.total),
    });
    process.stderr.write(`  ${label} run ${run + 1}/${RUNS}: ${Math.round(ok / DURATION)} req/s\n`);
  }
  return {
    label,
    rps: median(results.map((r) => r.rps)),
    p50: median(results.map((r) => r.p50)),
    p99: median(results.map((r) => r.p99)),
    cpuUs: median(results.map((r) => r.cpuUs)),
  };
}

async function main() {
  await admin(`drop database if exists ${DB} with (force)`);
  await admin(`create database ${DB}`);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const server = spawn("taskset", ["-c", "0", process.execPath, `${ROOT}/bin/kaira.js`, "serve"], {
    env: {
      ...process.env,
      DATABASE_URL: dbUrl(),
      PORT: String(port),
      HOST: "127.0.0.1",
      LOG_LEVEL: "warn",
      RATE_LIMIT_PER_MINUTE: "0",
      SIGNUP_PER_HOUR: "0",
      LOGIN_MAX_FAILURES_PER_ADDRESS: "100000",
      ADMIN_EMAIL: ADMIN.email,
      ADMIN_PASSWORD: ADMIN.password,
    },
    stdio: ["ignore", "inherit", "inherit"],
  });
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        if ((await fetch(`${base}/health/ready`)).ok) break;
      } catch {}
      if (Date.now() > deadline) throw new Error("server did not become ready");
      await new Promise((resolve) => setTimeout(resolve, 200));
    }

    process.stderr.write(`Creating and funding ${USERS} users…\n`);
    const adminToken = (
      await api(base, "POST", "/api/v1/auth/token", {
        form: { username: ADMIN.email, password: ADMIN.password },
      })
    ).access_token;
    const users = [];
    for (let i = 0; i < USERS; i++) {
      const credentials = {
        email: `bench-${i}@example.com`,
        username: `bench_${i}`,
        password: "bench-password",
      };
      const { id } = await api(base, "POST", "/api/v1/users", { body: credentials });
      await api(base, "POST", "/api/v1/admin/credits", {
        token: adminToken,
        body: { user_id: id, amount: OPENING_BALANCE },
      });
      const { access_token } = await api(base, "POST", "/api/v1/auth/token", {
        form: { username: credentials.email, password: credentials.password },
      });
      users.push({ id, token: access_token });
    }
    const pick = () => users[Math.floor(Math.random() * users.length)];
    const common = { url: base, connections: CONNECTIONS, pipelining: 1 };

    const rows = [];
    rows.push(
      await measure("profile, anonymous (GET /users/{id})", server.pid, {
        ...common,
        requests: [
          { method: "GET", setupRequest: (req) => ({ ...req, path: `/api/v1/users/${pick().id}` }) },
        ],
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

    const client = new pg.Client({ connectionString: dbUrl() });
    await client.connect();
    const { rows: checks } = await client.query(`
      select (select sum(balance) from users)::bigint as balances,
             (select sum(amount) from ledger_entries)::bigint as ledger,
             (select count(*) from users where balance < 0)::int as negatives,
             (select count(*) from transfers)::int as transfers,
             (select count(*) from (select transfer_id from ledger_entries where transfer_id is not null
                group by transfer_id having sum(amount) <> 0 or count(*) <> 2) x)::int as unbalanced`);
    await client.end();
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
      "| scenario | req/s | p50 ms | p99 ms | server CPU µs/req |",
      "| --- | ---: | ---: | ---: | ---: |",
      ...rows.map(
        (r) =>
          `| ${r.label} | ${Math.round(r.rps).toLocaleString("en")} | ${r.p50} | ${r.p99} | ${Math.round(r.cpuUs)} |`,
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
  } finally {
    server.kill("SIGTERM");
    await new Promise((resolve) => server.once("exit", resolve));
    await admin(`drop database if exists ${DB} with (force)`);
  }
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
