#!/usr/bin/env node
// Kaira file benchmark: upload and download throughput of a 10 MB file, and the server's memory
// under concurrent 10 MB uploads, beside a raw node:http server piping uploads to disk.
//
//   npm run bench:files -- [--runs N] [--concurrency N] [--size-mb N]
//
// Kaira runs as a real process (`kaira serve`, embedded database, files in a temporary DATA_DIR)
// pinned to core 0; this client runs on core 1. RSS is sampled from /proc/<pid>/status every 10 ms.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { request } from "node:http";
import net from "node:net";
import os from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseBenchArgs } from "./lib/cli.mjs";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const KAIRA_BIN = join(ROOT, "bin", "kaira.js");
const BASELINE_BIN = join(ROOT, "bench", "upload-baseline-server.mjs");
const SERVER_CORE = "0";
const RSS_GROWTH_TARGET_MB = 50;

const values = parseBenchArgs(import.meta.url, {
  runs: { type: "string", default: "7" },
  concurrency: { type: "string", default: "16" },
  "size-mb": { type: "string", default: "10" },
});
const RUNS = Number(values.runs);
const CONCURRENCY = Number(values.concurrency);
const SIZE = Number(values["size-mb"]) * 1_000_000;

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};
const mb = (bytes) => bytes / 1_000_000;

async function freePort() {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function memoryOf(pid) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
  return { rss: kb("VmRSS") * 1024, hwm: kb("VmHWM") * 1024 };
}

async function startServer(script, args, env, readyPath) {
  const port = await freePort();
  const child = spawn("taskset", ["-c", SERVER_CORE, process.execPath, script, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: String(port), HOST: "127.0.0.1", ...env },
    stdio: ["ignore", "ignore", "inherit"],
  });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(base + readyPath)).ok) return { child, base, pid: child.pid };
    } catch {}
    await new Promise((r) => setTimeout(r, 200));
  }
  child.kill("SIGKILL");
  throw new Error(`${script} did not become ready`);
}

async function stopServer(server) {
  const exited = new Promise((resolve) => server.child.once("exit", resolve));
  server.child.kill("SIGTERM");
  await exited;
}

/** Sends `content` as the body (multipart for Kaira, raw for the baseline) in 64 KiB writes. */
function send(url, { headers, head = Buffer.alloc(0), content, tail = Buffer.alloc(0) }) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = request(
      url,
      {
        method: "POST",
        headers: { ...headers, "content-length": head.length + content.length + tail.length },
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk) => {
          body += chunk;
        });
        res.on("end", () => {
          if (res.statusCode !== 201) reject(new Error(`upload answered ${res.statusCode}: ${body}`));
          else resolve({ seconds: (performance.now() - started) / 1000, body: JSON.parse(body) });
        });
      },
    );
    req.on("error", reject);
    req.write(head);
    let offset = 0;
    const writeMore = () => {
      while (offset < content.length) {
        const chunk = content.subarray(offset, offset + 65536);
        offset += chunk.length;
        if (!req.write(chunk)) return void req.once("drain", writeMore);
      }
      req.end(tail);
    };
    writeMore();
  });
}

function multipart(content) {
  const boundary = `----kaira-bench-${randomBytes(8).toString("hex")}`;
  return {
    headers: { "content-type": `multipart/form-data; boundary=${boundary}` },
    head: Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="bench.bin"\r\n` +
        "Content-Type: application/octet-stream\r\n\r\n",
    ),
    content,
    tail: Buffer.from(`\r\n--${boundary}--\r\n`),
  };
}

async function download(url, headers) {
  const started = performance.now();
  const res = await fetch(url, { headers });
  let bytes = 0;
  for await (const chunk of res.body) bytes += chunk.length;
  if (res.status !== 200 || bytes !== SIZE) throw new Error(`download: ${res.status}, ${bytes} bytes`);
  return (performance.now() - started) / 1000;
}

/** Runs `work` while sampling the server's RSS; returns the baseline (before) and the peak. */
async function withMemorySampling(pid, work) {
  global.gc?.();
  await new Promise((r) => setTimeout(r, 500));
  const baseline = memoryOf(pid).rss;
  let peak = baseline;
  const timer = setInterval(() => {
    peak = Math.max(peak, memoryOf(pid).rss);
  }, 10);
  const started = performance.now();
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  peak = Math.max(peak, memoryOf(pid).rss);
  return { baseline, peak, seconds: (performance.now() - started) / 1000 };
}

async function measure(name, server, makeUpload, downloadUrl) {
  const startRss = memoryOf(server.pid).rss;
  // Warm-up: two uploads so lazy initialisation does not count as growth.
  for (let i = 0; i < 2; i++) await send(server.uploadUrl, makeUpload());
  const uploads = [];
  let lastId;
  for (let i = 0; i < RUNS; i++) {
    const { seconds, body } = await send(server.uploadUrl, makeUpload());
    uploads.push(mb(SIZE) / seconds);
    lastId = body.id;
  }
  const downloads = [];
  if (downloadUrl)
    for (let i = 0; i < RUNS; i++)
      downloads.push(mb(SIZE) / (await download(downloadUrl(lastId), server.headers)));
  const concurrent = await withMemorySampling(server.pid, () =>
    Promise.all(Array.from({ length: CONCURRENCY }, () => send(server.uploadUrl, makeUpload()))),
  );
  return {
    name,
    upload: median(uploads),
    download: downloads.length ? median(downloads) : undefined,
    concurrentMBps: (mb(SIZE) * CONCURRENCY) / concurrent.seconds,
    startRss,
    baselineRss: concurrent.baseline,
    peakRss: concurrent.peak,
    growth: concurrent.peak - concurrent.baseline,
  };
}

async function main() {
  const content = randomBytes(SIZE);
  const work = await mkdtemp(join(os.tmpdir(), "kaira-bench-files-"));
  const results = [];
  try {
    // Kaira: embedded database, files in a temporary DATA_DIR, quota and types opened for the load.
    const kaira = await startServer(
      KAIRA_BIN,
      ["serve"],
      {
        DATA_DIR: join(work, "kaira"),
        LOG_LEVEL: "warn",
        LOG_PRETTY: "false",
        RATE_LIMIT_PER_MINUTE: "0",
        SIGNUP_PER_HOUR: "0",
        UPLOAD_QUOTA_BYTES: String(1024 ** 4),
        UPLOAD_ALLOWED_TYPES: "application/octet-stream",
      },
      "/health/ready",
    );
    try {
      const user = { email: "bench@example.com", username: "bench", password: "BenchPass-123456" };
      await fetch(`${kaira.base}/api/v1/users`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(user),
      });
      const token = await (
        await fetch(`${kaira.base}/api/v1/auth/token`, {
          method: "POST",
          body: new URLSearchParams({ username: user.email, password: user.password }),
        })
      ).json();
      const headers = { authorization: `Bearer ${token.access_token}` };
      const server = { ...kaira, uploadUrl: `${kaira.base}/api/v1/files`, headers };
      const makeUpload = () => {
        const body = multipart(content);
        return { ...body, headers: { ...body.headers, ...headers } };
      };
      results.push(
        await measure(
          "Kaira (`POST /api/v1/files`)",
          server,
          makeUpload,
          (id) => `${kaira.base}/api/v1/files/${id}`,
        ),
      );
    } finally {
      await stopServer(kaira);
    }
    const baseline = await startServer(BASELINE_BIN, [], { BASELINE_DIR: join(work, "baseline") }, "/");
    try {
      const server = { ...baseline, uploadUrl: `${baseline.base}/`, headers: {} };
      results.push(
        await measure("raw node:http → file", server, () => ({
          headers: { "content-type": "application/octet-stream" },
          content,
        })),
      );
    } finally {
      await stopServer(baseline);
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }

  const f = (n) => n.toFixed(1);
  const lines = [
    `Files benchmark — ${new Date().toISOString().slice(0, 10)}, ${os.cpus()[0]?.model ?? "cpu"} × ${os.cpus().length}, Node ${process.version}, load average ${os.loadavg()[0].toFixed(2)}`,
    `${mb(SIZE)} MB file; medians of ${RUNS} sequential runs; then ${CONCURRENCY} concurrent uploads while sampling the server's RSS.`,
    "",
    "| server | upload MB/s | download MB/s | concurrent upload MB/s (total) | RSS at start | RSS before burst | RSS peak | growth in burst |",
    "|---|---|---|---|---|---|---|---|",
    ...results.map(
      (r) =>
        `| ${r.name} | ${f(r.upload)} | ${r.download === undefined ? "—" : f(r.download)} | ${f(r.concurrentMBps)} | ${f(r.startRss / 2 ** 20)} MiB | ${f(r.baselineRss / 2 ** 20)} MiB | ${f(r.peakRss / 2 ** 20)} MiB | ${f(r.growth / 2 ** 20)} MiB |`,
    ),
  ];
  console.log(lines.join("\n"));
  const kairaGrowth = results[0].growth / 2 ** 20;
  console.log(
    `\nKaira's RSS grew ${f(kairaGrowth)} MiB under ${CONCURRENCY} concurrent ${mb(SIZE)} MB uploads (target < ${RSS_GROWTH_TARGET_MB} MB): ${kairaGrowth < RSS_GROWTH_TARGET_MB ? "met" : "NOT met"}`,
  );
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
