#!/usr/bin/env node
// Start-up time and memory of the embedded default, per engine:
//   node bench/embedded-start.mjs [--engines postgres,pglite] [--runs 3]
// For each run: a fresh DATA_DIR, `kaira serve` until /health/ready answers 200 (first start:
// initdb or PGlite's first open, and the migrations), SIGTERM, then `kaira serve` again on the
// same DATA_DIR (later start), and the memory of the whole process tree — the node process
// plus every process of the embedded PostgreSQL server (the postmaster and its children) —
// twice: 3 s after the start, and settled, after --idle seconds (45) without requests (V8 has
// shrunk its heap by then, and the pool has closed the connections start-up opened). RSS counts shared memory once per process; PSS splits it between them, so the
// PSS sum is what the tree really holds. Prints medians as a markdown table.
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseBenchArgs } from "./lib/cli.mjs";

const values = parseBenchArgs(import.meta.url, {
  engines: { type: "string", default: "postgres,pglite" },
  runs: { type: "string", default: "3" },
  idle: { type: "string", default: "45" },
});
const engines = values.engines.split(",");
const runs = Number(values.runs);
const kaira = fileURLToPath(new URL("../bin/kaira.js", import.meta.url));

const freePort = () =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function start(env) {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, [kaira, "serve"], {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      HOST: "127.0.0.1",
      PORT: String(port),
      LOG_LEVEL: "warn",
      ...env,
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (chunk) => {
    stderr += chunk;
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.once("error", (error) => {
    stderr += String(error);
  });
  for (;;) {
    if (child.exitCode !== null) throw new Error(`kaira serve exited ${child.exitCode}: ${stderr}`);
    if (performance.now() - started > 180_000) {
      child.kill("SIGKILL");
      throw new Error("kaira serve was not ready within 180 s");
    }
    try {
      if ((await fetch(`http://127.0.0.1:${port}/health/ready`)).status === 200) break;
    } catch {}
    await sleep(20);
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    seconds,
    pid: child.pid,
    async stop() {
      child.kill("SIGTERM");
      return exited;
    },
  };
}

function memoryOf(pid) {
  const kb = (file, field) => {
    try {
      const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(file, "utf8"));
      return match ? Number(match[1]) : 0;
    } catch {
      return 0;
    }
  };
  return { rss: kb(`/proc/${pid}/status`, "VmRSS"), pss: kb(`/proc/${pid}/smaps_rollup`, "Pss") };
}

/** The node process and, when there is one, the embedded server's postmaster and its children. */
function processTree(nodePid, dataDir) {
  const pids = [nodePid];
  let postmaster;
  try {
    postmaster = Number.parseInt(
      readFileSync(join(dataDir, "postgres", "pgdata", "postmaster.pid"), "utf8"),
      10,
    );
  } catch {}
  if (postmaster) {
    pids.push(postmaster);
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
        const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
        if (ppid === postmaster) pids.push(Number(entry));
      } catch {}
    }
  }
  return pids;
}

const median = (xs) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

const loadAtStart = loadavg()[0];
const results = {};
for (const engine of engines) {
  const samples = {
    first: [],
    later: [],
    rss: [],
    pss: [],
    processes: [],
    idleRss: [],
    idlePss: [],
    idleProcesses: [],
  };
  for (let run = 1; run <= runs; run++) {
    const dataDir = mkdtempSync(join(tmpdir(), `kaira-bench-start-${engine}-`));
    const env = { DATA_DIR: dataDir, EMBEDDED_ENGINE: engine };
    try {
      const first = await start(env);
      await first.stop();
      const later = await start(env);
      await sleep(3_000);
      const tree = processTree(later.pid, dataDir);
      const memory = tree.map(memoryOf);
      samples.first.push(first.seconds);
      samples.later.push(later.seconds);
      samples.rss.push(memory.reduce((sum, m) => sum + m.rss, 0) / 1024);
      samples.pss.push(memory.reduce((sum, m) => sum + m.pss, 0) / 1024);
      samples.processes.push(tree.length);
      await sleep(Number(values.idle) * 1000 - 3_000);
      const settledTree = processTree(later.pid, dataDir);
      const settled = settledTree.map(memoryOf);
      samples.idleRss.push(settled.reduce((sum, m) => sum + m.rss, 0) / 1024);
      samples.idlePss.push(settled.reduce((sum, m) => sum + m.pss, 0) / 1024);
      samples.idleProcesses.push(settledTree.length);
      await later.stop();
      console.error(
        `${engine} run ${run}: first ${first.seconds.toFixed(2)} s, later ${later.seconds.toFixed(2)} s, ` +
          `at 3 s RSS ${samples.rss.at(-1).toFixed(0)} MB, PSS ${samples.pss.at(-1).toFixed(0)} MB (${tree.length} processes); ` +
          `settled RSS ${samples.idleRss.at(-1).toFixed(0)} MB, PSS ${samples.idlePss.at(-1).toFixed(0)} MB (${settledTree.length} processes)`,
      );
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }
  results[engine] = samples;
}

console.log(
  `\nMedians of ${runs} runs; 1-minute load average at start ${loadAtStart.toFixed(2)}, at end ${loadavg()[0].toFixed(2)}.\n`,
);
console.log(
  `| engine | first start (s) | later start (s) | RSS sum at 3 s (MB) | PSS sum at 3 s (MB) | processes | RSS sum, idle ${values.idle} s (MB) | PSS sum, idle ${values.idle} s (MB) | processes |`,
);
console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
for (const [engine, s] of Object.entries(results)) {
  console.log(
    `| ${engine} | ${median(s.first).toFixed(2)} | ${median(s.later).toFixed(2)} | ${median(s.rss).toFixed(0)} | ${median(s.pss).toFixed(0)} | ${median(s.processes)} | ${median(s.idleRss).toFixed(0)} | ${median(s.idlePss).toFixed(0)} | ${median(s.idleProcesses)} |`,
  );
}
