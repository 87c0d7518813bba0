import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

/**
 * The path of Prometheus' `promtool`, or a thrown error saying how to get it: a missing tool
 * must fail the test, never skip it.
 */
export function findPromtool(): string {
  const candidates = [process.env.PROMTOOL, "/usr/bin/promtool", "/usr/local/bin/promtool"].filter(
    (path): path is string => Boolean(path),
  );
  for (const path of candidates) if (existsSync(path)) return path;
  const which = spawnSync("sh", ["-c", "command -v promtool"], { encoding: "utf8" });
  if (which.status === 0 && which.stdout.trim()) return which.stdout.trim();
  throw new Error(
    "promtool not found: install it (Debian/Ubuntu: `apt-get install -y prometheus`) or set PROMTOOL to its path",
  );
}

/** Runs `promtool check metrics` on an exposition; resolves with its exit code and output. */
export function promtoolCheckMetrics(exposition: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(findPromtool(), ["check", "metrics"], { stdio: ["pipe", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk) => {
      output += chunk;
    });
    child.stderr.on("data", (chunk) => {
      output += chunk;
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, output }));
    child.stdin.on("error", reject);
    child.stdin.end(exposition);
  });
}
