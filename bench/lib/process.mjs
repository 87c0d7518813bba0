// Starting and stopping the processes a benchmark runs: servers pinned to a core, the app's CLI,
// and the undo list that runs when a benchmark ends, fails or is interrupted.
import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { createWriteStream, readFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const KAIRA_BIN = join(ROOT, "bin", "kaira.js");
export const RESULTS_DIR = join(ROOT, "bench", "results");
/** The server under test runs on core 0, the load generator on core 1. */
export const SERVER_CORE = "0";
export const LOAD_CORE = "1";
/** Every core: for processes that must not inherit a pinned parent's core (a database server). */
export const ALL_CORES = `0-${os.cpus().length - 1}`; // not availableParallelism(): that is our own affinity

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export async function freePort() {
  const server = net.createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address();
  server.close();
  await once(server, "close");
  return port;
}

/**
 * Env for a child: ours minus the settings that choose its database and Redis, which each
 * benchmark sets explicitly (an inherited REDIS_URL would quietly move caches and pub/sub).
 */
export function childEnv(extra = {}) {
  const env = { ...process.env };
  for (const key of ["DATABASE_URL", "DATA_DIR", "REDIS_URL"]) delete env[key];
  return { ...env, ...extra };
}

/** Runs a command to completion (stdout and stderr inherited); rejects on a non-zero exit. */
export async function runCommand(command, args, env, { stdout = "inherit" } = {}) {
  const child = spawn(command, args, { cwd: ROOT, env, stdio: ["ignore", stdout, "inherit"] });
  const [code, signal] = await once(child, "exit");
  if (code !== 0) throw new Error(`${command} ${args.join(" ")} failed (exit ${code ?? signal})`);
}

/** `kaira ARGS` to completion with `env` added to childEnv(); rejects on a non-zero exit. */
export function runKaira(args, env) {
  return runCommand(process.execPath, [KAIRA_BIN, ...args], childEnv(env));
}

/** `kaira ARGS`, its stdout returned (trimmed). */
export function kairaOutput(args, env) {
  return execFileSync(process.execPath, [KAIRA_BIN, ...args], {
    cwd: ROOT,
    env: childEnv(env),
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  }).trim();
}

export function tail(file, lines = 30) {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

// ---------------------------------------------------------------------------------------------
// Cleanups: everything started or created registers its undo; they run in reverse order, also
// on Ctrl-C once handleSignals() has been called.

const cleanups = [];

export function onCleanup(fn) {
  cleanups.push(fn);
}

export async function runCleanups() {
  while (cleanups.length) {
    const fn = cleanups.pop();
    try {
      await fn();
    } catch (error) {
      console.error(`cleanup failed: ${error.message}`);
    }
  }
}

export function handleSignals() {
  for (const signal of ["SIGINT", "SIGTERM"]) {
    process.once(signal, () => {
      console.error(`\n${signal}: cleaning up…`);
      runCleanups().finally(() => process.exit(130));
    });
  }
}

// ---------------------------------------------------------------------------------------------

/**
 * Starts a server (`node SCRIPT ARGS`, with node's own `nodeArgs`) pinned to `core` (null: not
 * pinned) and waits until GET `readyPath` answers 200. `taskset` execs node, so the child's pid
 * is the server's own — the one whose CPU time and RSS are read. `env` is the child's whole
 * environment; PORT and HOST are added. Output goes to `logFile`, or is inherited. The stop is
 * registered with onCleanup; `stop()` may be called earlier (SIGTERM, SIGKILL after 15 s).
 */
export async function startServer({
  name,
  script,
  args = [],
  nodeArgs = [],
  env,
  core = SERVER_CORE,
  logFile,
  readyPath = "/health/ready",
  timeoutMs = 120_000,
}) {
  const port = await freePort();
  let log;
  if (logFile) {
    log = createWriteStream(logFile);
    await once(log, "open");
  }
  const argv = [...nodeArgs, script, ...args];
  const [command, commandArgs] =
    core === null ? [process.execPath, argv] : ["taskset", ["-c", core, process.execPath, ...argv]];
  const child = spawn(command, commandArgs, {
    cwd: ROOT,
    env: { ...env, PORT: String(port), HOST: "127.0.0.1" },
    stdio: ["ignore", log ?? "inherit", log ?? "inherit"],
  });
  let exited = false;
  const exit = once(child, "exit").then(([code, signal]) => {
    exited = true;
    return code ?? signal;
  });
  const url = `http://127.0.0.1:${port}`;
  const server = {
    name,
    pid: child.pid,
    port,
    url,
    async stop() {
      if (!exited) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
        await exit;
        clearTimeout(timer);
      }
      log?.end();
    },
  };
  onCleanup(() => server.stop());

  const where = logFile ? `; log ${logFile}:\n${tail(logFile)}` : "";
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited) throw new Error(`${name} exited (${await exit}) before it was ready${where}`);
    try {
      const res = await fetch(`${url}${readyPath}`);
      await res.arrayBuffer();
      if (res.status === 200) return server;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${name} not ready after ${timeoutMs / 1000} s${where}`);
    await sleep(200);
  }
}

/** `kaira serve` through startServer, with `env` added to childEnv(). */
export function startKaira(env, options = {}) {
  return startServer({ name: "kaira", script: KAIRA_BIN, args: ["serve"], ...options, env: childEnv(env) });
}

export function gitCommit() {
  try {
    return execFileSync("git", ["rev-parse", "--short", "HEAD"], {
      cwd: ROOT,
      encoding: "utf8",
      stdio: "pipe",
    }).trim();
  } catch {
    return "no commit";
  }
}
