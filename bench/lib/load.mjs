// Load from bench/load-worker.mjs: one autocannon run in a process of its own, pinned to the
// load core, away from the server under test.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { LOAD_CORE, ROOT } from "./process.mjs";

const LOAD_WORKER = join(ROOT, "bench", "load-worker.mjs");

/** One autocannon run ({ url, path, ids?, duration, connections }); resolves to its result. */
export async function loadWorker(load) {
  const child = spawn("taskset", ["-c", LOAD_CORE, process.execPath, LOAD_WORKER, JSON.stringify(load)], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "inherit"],
  });
  let stdout = "";
  child.stdout.setEncoding("utf8").on("data", (chunk) => {
    stdout += chunk;
  });
  const [code] = await once(child, "exit");
  if (code !== 0) throw new Error(`load worker failed (exit ${code})`);
  return JSON.parse(stdout.trim().split("\n").pop());
}

/** Throws unless every request of the run got a 2xx answer: a number measured on errors is not a number. */
export function assertClean(result, label) {
  const problems = [];
  if (result.non2xx) problems.push(`${result.non2xx} non-2xx (${JSON.stringify(result.statusCodeStats)})`);
  if (result.errors) problems.push(`${result.errors} errors`);
  if (result.timeouts) problems.push(`${result.timeouts} timeouts`);
  if (result.requests.total === 0) problems.push("no request completed");
  if (problems.length) throw new Error(`${label}: ${problems.join(", ")}`);
}
