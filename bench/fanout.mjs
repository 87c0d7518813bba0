#!/usr/bin/env node
// WebSocket fan-out benchmark: N clients spread over two Kaira instances (PostgreSQL + Redis),
// E posts written through the instances in turn; for every (client, event) pair the delay
// from the moment the write request was sent to the moment the client received the event.
// Side by side, in the same run: the same clients and events over a bare `ws` + Redis
// pub/sub fan-out (bench/baseline-fanout-server.mjs), which has no HTTP write, no database
// commit and no outbox, and sends each message on its own: at 1,000 clients, the floor that
// Kaira's delivery path adds to.
//
//   npm run bench:fanout -- [--clients 1000] [--events 1000] [--rate 50] [--cpu-prof DIR]
//
// Needs PostgreSQL (BENCH_PG_ADMIN_URL, default postgres://postgres@127.0.0.1:5432/postgres)
// and `redis-server` on the PATH: the run starts a Redis of its own on a free port. Each server
// instance's peak RSS over its scenario is sampled from /proc; server logs go to bench/results/.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import WebSocket from "ws";
import { parseBenchArgs } from "./lib/cli.mjs";
import { freshDatabase, PG_ADMIN_URL } from "./lib/database.mjs";
import { percentile, sampleRss } from "./lib/measure.mjs";
import {
  childEnv,
  freePort,
  gitCommit,
  handleSignals,
  KAIRA_BIN,
  onCleanup,
  RESULTS_DIR,
  ROOT,
  runCleanups,
  sleep,
  startServer,
} from "./lib/process.mjs";

const BASELINE_BIN = join(ROOT, "bench", "baseline-fanout-server.mjs");
const BENCH_DB = "kaira_bench_fanout";
// The target (p99 < 50 ms) is set for 1,000 clients over two instances at 50 writes a second.
const TARGET_P99_MS = 50;
const TARGET_CLIENTS = 1000;
const TARGET_RATE = 50;
const SOCKETS_PER_READER = 10;

const values = parseBenchArgs(import.meta.url, {
  clients: { type: "string", default: "1000" },
  events: { type: "string", default: "1000" },
  rate: { type: "string", default: "50" },
  "cpu-prof": { type: "string" },
});
const CLIENTS = Number(values.clients);
const EVENTS = Number(values.events);
const RATE = Number(values.rate);
handleSignals();

/** A Redis of the run's own, stopped with the run. */
async function startRedis() {
  const port = await freePort();
  const child = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  onCleanup(async () => {
    if (child.exitCode !== null) return;
    child.kill("SIGTERM");
    await new Promise((resolve) => child.once("exit", resolve));
  });
  await sleep(300);
  return `redis://127.0.0.1:${port}`;
}

/** Server instances, one at a time (the first Kaira applies the migrations); not pinned. */
async function startInstances(name, script, args, env, readyPath, nodeArgs = []) {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const servers = [];
  for (let i = 1; i <= 2; i++) {
    servers.push(
      await startServer({
        name: `${name} ${i}`,
        script,
        args,
        env,
        nodeArgs,
        core: null,
        readyPath,
        timeoutMs: 60_000,
        logFile: join(RESULTS_DIR, `fanout-${name}-${i}.log`),
      }),
    );
  }
  return servers;
}

/**
 * Connects `CLIENTS` sockets round-robin over `urls`, authenticates each, and records for
 * every event index the delay since `sentAt[index]`.
 */
async function connectClients(urls, tokenOf, sentAt, indexOf) {
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
      socket.once("close", (code, reason) =>
        reject(new Error(`socket ${c} closed before ready: ${code} ${reason}`)),
      );
    });
    socket.on("open", () => socket.send(JSON.stringify({ type: "auth", access_token: tokenOf(c) })));
    sockets.push(socket);
    await ready;
  }
  return { sockets, latencies, delivered: () => delivered };
}

async function runScenario(name, servers, urls, tokenOf, publish, indexOf) {
  const sentAt = new Float64Array(EVENTS);
  const writeMs = [];
  const rss = servers.map((server) => sampleRss(server.pid));
  const clients = await connectClients(urls, tokenOf, sentAt, indexOf);
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
  const peakRss = rss.map((sampler) => sampler.stop());
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
    peakRss,
  };
}

async function main() {
  const loadAtStart = os.loadavg()[0];
  const databaseUrl = await freshDatabase(PG_ADMIN_URL, BENCH_DB);
  const redisUrl = await startRedis();

  const env = childEnv({
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    SECRET_KEY: randomBytes(32).toString("hex"),
    LOG_LEVEL: "warn",
    RATE_LIMIT_PER_MINUTE: "0",
    SIGNUP_PER_HOUR: "0",
    NODE_ENV: "production",
  });
  // --cpu-prof DIR: each Kaira instance writes a V8 profile there (bench/profile-summary.mjs).
  const profiling = values["cpu-prof"] ? ["--cpu-prof", `--cpu-prof-dir=${values["cpu-prof"]}`] : [];
  const kaira = await startInstances("kaira", KAIRA_BIN, ["serve"], env, "/health/ready", profiling);
  const base = kaira.map((server) => server.url);

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
  // Readers as a real audience is made: many users, each with a few sockets (at most
  // SOCKETS_PER_READER, under the default cap of 16 per user).
  const readers = [];
  for (let r = 0; r < Math.ceil(CLIENTS / SOCKETS_PER_READER); r++) readers.push(await signUp(`reader${r}`));
  const readerOf = (client) => readers[Math.floor(client / SOCKETS_PER_READER)];

  const results = [];
  results.push(
    await runScenario(
      "kaira",
      kaira,
      base.map((url) => `${url.replace("http", "ws")}/api/v1/ws`),
      readerOf,
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
  for (const server of kaira) await server.stop();

  const channel = "baseline-fanout";
  const baseline = await startInstances(
    "baseline",
    BASELINE_BIN,
    [],
    childEnv({ REDIS_URL: redisUrl, CHANNEL: channel }),
    "/",
  );
  const publisher = new Redis(redisUrl);
  results.push(
    await runScenario(
      "baseline (ws + Redis pub/sub)",
      baseline,
      baseline.map((server) => `${server.url.replace("http", "ws")}/ws`),
      () => "none",
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
    `Run ${new Date().toISOString()} · commit ${gitCommit()} · Node ${process.version} · ${os.cpus()[0]?.model ?? "CPU"}, ${os.availableParallelism()} cores · load average at start ${loadAtStart.toFixed(2)}`,
    "",
    `${CLIENTS} clients over 2 instances · ${EVENTS} events at ${RATE}/s · delay from the write request being sent to the client receiving the event`,
    "",
    "| path | delivered | p50 ms | p90 ms | p99 ms | max ms | write p50 / p99 ms | peak RSS MiB per instance |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...results.map(
      (r) =>
        `| ${r.name} | ${r.delivered} / ${r.expected} | ${fmt(r.p50)} | ${fmt(r.p90)} | ${fmt(r.p99)} | ${fmt(r.max)} | ${fmt(r.writeP50)} / ${fmt(r.writeP99)} | ` +
        `${r.peakRss.map((mib) => mib.toFixed(0)).join(" / ")} |`,
    ),
    "",
    "The write column is the publishing call alone: an HTTP POST /api/v1/posts for Kaira, a Redis PUBLISH for the baseline.",
    "",
    CLIENTS === TARGET_CLIENTS && RATE === TARGET_RATE
      ? `Kaira p99 ${fmt(results[0].p99)} ms: target < ${TARGET_P99_MS} ms ${results[0].p99 < TARGET_P99_MS ? "met" : "**missed**"}.`
      : `Kaira p99 ${fmt(results[0].p99)} ms (the < ${TARGET_P99_MS} ms target is set for ${TARGET_CLIENTS} clients at ${TARGET_RATE} writes/s: not judged here).`,
  ];
  console.log(`\n${lines.join("\n")}`);
}

try {
  await main();
} finally {
  await runCleanups();
}
