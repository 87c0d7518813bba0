#!/usr/bin/env node
// WebSocket fan-out benchmark: N clients spread over two Kaira instances (PostgreSQL + Redis),
// E posts written through the instances in turn; for every (client, event) pair the delay
// from the moment the write request was sent to the moment the client received the event.
// Side by side, in the same run: the same clients and events over a bare `ws` + Redis
// pub/sub fan-out (bench/baseline-fanout-server.mjs), which has no HTTP write, no database
// commit and no outbox — the floor that Kaira's delivery path adds to.
//
//   npm run bench:fanout -- [--clients 1000] [--events 1000] [--rate 50]
//
// Needs PostgreSQL (BENCH_PG_ADMIN_URL, default postgres://postgres@127.0.0.1:5432/postgres)
// and `redis-server` on the PATH: the run starts a Redis of its own on a free port.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import net from "node:net";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Redis } from "ioredis";
import pg from "pg";
import WebSocket from "ws";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const KAIRA_BIN = `${ROOT}bin/kaira.js`;
const BASELINE_BIN = `${ROOT}bench/baseline-fanout-server.mjs`;
const BENCH_DB = "kaira_bench_fanout";
const TARGET_P99_MS = 50;

const { values } = parseArgs({
  options: {
    clients: { type: "string", default: "1000" },
    events: { type: "string", default: "1000" },
    rate: { type: "string", default: "50" },
  },
});
const CLIENTS = Number(values.clients);
const EVENTS = Number(values.events);
const RATE = Number(values.rate);
const adminUrl = process.env.BENCH_PG_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

const children = [];
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function freePort() {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function start(command, args, env) {
  const child = spawn(command, args, {
    env: { ...process.env, ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (chunk) => {
    stderr += chunk;
  });
  child.on("exit", (code) => {
    if (code && !child.stopping) console.error(`${args.join(" ")} exited ${code}: ${stderr.slice(-2000)}`);
  });
  children.push(child);
  return child;
}

async function waitHttp(url, what) {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {}
    await sleep(200);
  }
  throw new Error(`${what} did not become ready`);
}

async function withAdmin(fn) {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

function percentile(sorted, p) {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/**
 * Connects `CLIENTS` sockets round-robin over `urls`, authenticates each, and records for
 * every event index the delay since `sentAt[index]`.
 */
async function connectClients(urls, token, sentAt, indexOf) {
  const latencies = new Float64Array(CLIENTS * EVENTS).fill(Number.NaN);
  let delivered = 0;
  const sockets = [];
  for (let c = 0; c < CLIENTS; c++) {
    const socket = new WebSocket(urls[c % urls.length]);
    const ready = new Promise((resolve, reject) => {
      socket.on("message", (raw) => {
        const message = JSON.parse(raw.toString());
        if (message.type === "ready") return resolve();
        const index = indexOf(message);
        if (index === undefined || !Number.isNaN(latencies[c * EVENTS + index])) return;
        latencies[c * EVENTS + index] = performance.now() - sentAt[index];
        delivered += 1;
      });
      socket.once("error", reject);
    });
    socket.on("open", () => socket.send(JSON.stringify({ type: "auth", access_token: token })));
    sockets.push(socket);
    await ready;
  }
  return { sockets, latencies, delivered: () => delivered };
}

async function runScenario(name, urls, token, publish, indexOf) {
  const sentAt = new Float64Array(EVENTS);
  const writeMs = [];
  const clients = await connectClients(urls, token, sentAt, indexOf);
  await sleep(500);
  const started = performance.now();
  const interval = 1000 / RATE;
  for (let i = 0; i < EVENTS; i++) {
    const due = started + i * interval;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    sentAt[i] = performance.now();
    publish(i)
      .then(() => writeMs.push(performance.now() - sentAt[i]))
      .catch((error) => console.error(`${name}: publish ${i} failed: ${error.message}`));
  }
  const expected = CLIENTS * EVENTS;
  const deadline = performance.now() + 30_000;
  while (clients.delivered() < expected && performance.now() < deadline) await sleep(100);
  for (const socket of clients.sockets) socket.terminate();
  const values = Array.from(clients.latencies).filter((v) => !Number.isNaN(v));
  values.sort((a, b) => a - b);
  writeMs.sort((a, b) => a - b);
  return {
    name,
    writeP50: percentile(writeMs, 50),
    writeP99: percentile(writeMs, 99),
    delivered: clients.delivered(),
    expected,
    p50: percentile(values, 50),
    p90: percentile(values, 90),
    p99: percentile(values, 99),
    max: values.at(-1),
  };
}

async function main() {
  const loadAtStart = os.loadavg()[0];
  const databaseUrl = (() => {
    const url = new URL(adminUrl);
    url.pathname = `/${BENCH_DB}`;
    return url.toString();
  })();
  await withAdmin(async (admin) => {
    await admin.query(`drop database if exists ${BENCH_DB} with (force)`);
    await admin.query(`create database ${BENCH_DB}`);
  });
  const redisPort = await freePort();
  start(
    "redis-server",
    ["--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    {},
  );
  const redisUrl = `redis://127.0.0.1:${redisPort}`;
  await sleep(300);

  const env = {
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    SECRET_KEY: randomBytes(32).toString("hex"),
    LOG_LEVEL: "warn",
    RATE_LIMIT_PER_MINUTE: "0",
    SIGNUP_PER_HOUR: "0",
    NODE_ENV: "production",
  };
  const ports = [await freePort(), await freePort()];
  // One at a time: the first applies the migrations.
  for (const port of ports) {
    start(process.execPath, [KAIRA_BIN, "serve"], { ...env, HOST: "127.0.0.1", PORT: String(port) });
    await waitHttp(`http://127.0.0.1:${port}/health/ready`, `kaira on ${port}`);
  }
  const base = ports.map((port) => `http://127.0.0.1:${port}`);

  const signUp = async (name) => {
    const user = {
      email: `${name}-${randomBytes(3).toString("hex")}@example.com`,
      username: `${name}_${randomBytes(3).toString("hex")}`,
      password: "BenchPass-123",
    };
    const res = await fetch(`${base[0]}/api/v1/users`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(user),
    });
    if (res.status !== 201) throw new Error(`sign-up failed: ${await res.text()}`);
    const token = await fetch(`${base[0]}/api/v1/auth/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ username: user.email, password: user.password }).toString(),
    });
    return (await token.json()).access_token;
  };
  const writer = await signUp("writer");
  const reader = await signUp("reader");

  const results = [];
  results.push(
    await runScenario(
      "kaira",
      base.map((url) => `${url.replace("http", "ws")}/api/v1/ws`),
      reader,
      async (i) => {
        const res = await fetch(`${base[i % 2]}/api/v1/posts`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${writer}` },
          body: JSON.stringify({ title: `fanout ${i}`, content: "bench" }),
        });
        if (res.status !== 201) throw new Error(`HTTP ${res.status}`);
      },
      (message) => (message.type === "post.created" ? Number(message.data.title.slice(7)) : undefined),
    ),
  );
  for (const child of children.splice(1)) {
    child.stopping = true;
    child.kill("SIGTERM");
  }

  const channel = "baseline-fanout";
  const baselinePorts = [await freePort(), await freePort()];
  for (const port of baselinePorts) {
    start(process.execPath, [BASELINE_BIN], { PORT: String(port), REDIS_URL: redisUrl, CHANNEL: channel });
    await waitHttp(`http://127.0.0.1:${port}/`, `baseline on ${port}`);
  }
  const publisher = new Redis(redisUrl);
  results.push(
    await runScenario(
      "baseline (ws + Redis pub/sub)",
      baselinePorts.map((port) => `ws://127.0.0.1:${port}/ws`),
      "none",
      async (i) => {
        await publisher.publish(
          channel,
          JSON.stringify({ id: i, type: "post.created", data: { title: `fanout ${i}`, content: "bench" } }),
        );
      },
      (message) => (message.type === "post.created" ? Number(message.data.title.slice(7)) : undefined),
    ),
  );
  publisher.disconnect();

  const fmt = (n) => (Number.isFinite(n) ? n.toFixed(1) : "–");
  const lines = [
    `Run ${new Date().toISOString()} · Node ${process.version} · ${os.cpus()[0]?.model ?? "CPU"}, ${os.availableParallelism()} cores · load average at start ${loadAtStart.toFixed(2)}`,
    "",
    `${CLIENTS} clients over 2 instances · ${EVENTS} events at ${RATE}/s · delay from the write request being sent to the client receiving the event`,
    "",
    "| path | delivered | p50 ms | p90 ms | p99 ms | max ms | write p50 / p99 ms |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...results.map(
      (r) =>
        `| ${r.name} | ${r.delivered} / ${r.expected} | ${fmt(r.p50)} | ${fmt(r.p90)} | ${fmt(r.p99)} | ${fmt(r.max)} | ${fmt(r.writeP50)} / ${fmt(r.writeP99)} |`,
    ),
    "",
    "The write column is the publishing call alone: an HTTP POST /api/v1/posts for Kaira, a Redis PUBLISH for the baseline.",
    "",
    `Kaira p99 ${fmt(results[0].p99)} ms: target < ${TARGET_P99_MS} ms ${results[0].p99 < TARGET_P99_MS ? "met" : "**missed**"}.`,
  ];
  console.log(`\n${lines.join("\n")}`);
}

try {
  await main();
} finally {
  for (const child of children) {
    child.stopping = true;
    child.kill("SIGTERM");
  }
  await sleep(500);
  await withAdmin((admin) => admin.query(`drop database if exists ${BENCH_DB} with (force)`)).catch(() => {});
}
