// What the benchmarks read about a process from /proc (CPU time, memory), and the statistics
// their tables report.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

/** Clock ticks per second of /proc/<pid>/stat's times (`getconf CLK_TCK`, usually 100). */
export const CLK_TCK = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of a process (all its threads), in clock ticks. */
export function cpuTicks(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name (field 2) is parenthesised and may contain spaces; fields after it are plain.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]); // fields 14 (utime) and 15 (stime)
}

/** utime + stime of a process in seconds, or undefined when it is gone. */
export function cpuSeconds(pid) {
  try {
    return cpuTicks(pid) / CLK_TCK;
  } catch {
    return undefined;
  }
}

/** A field of /proc/<pid>/status in MiB (VmRSS: resident now, VmHWM: the peak since start). */
function statusMiB(pid, field) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1];
  return Number(kb ?? 0) / 1024;
}

/** The resident memory of a process now, in MiB. */
export const rssMiB = (pid) => statusMiB(pid, "VmRSS");

/**
 * Samples a process's RSS every `everyMs` until `stop()`, which returns the largest sample in
 * MiB: the peak of that window (VmHWM would be the peak since the process started, start-up
 * and earlier runs included). A process that has gone keeps its last samples.
 */
export function sampleRss(pid, everyMs = 250) {
  let peak = 0;
  const sample = () => {
    try {
      peak = Math.max(peak, rssMiB(pid));
    } catch {
      // gone
    }
  };
  sample();
  const timer = setInterval(sample, everyMs).unref();
  return {
    stop() {
      clearInterval(timer);
      sample();
      return peak;
    },
  };
}

/**
 * Runs `work` while watching a server process: its CPU time (utime + stime, every thread)
 * before and after, and its peak RSS sampled through the run.
 */
export async function watchProcess(pid, work) {
  const rss = sampleRss(pid);
  const before = cpuTicks(pid);
  try {
    const result = await work();
    return { result, cpuSeconds: (cpuTicks(pid) - before) / CLK_TCK, peakRssMiB: rss.stop() };
  } finally {
    rss.stop();
  }
}

/** The median; of an even count, the mean of the two middle values. Non-finite values are left out. */
export function median(values) {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The p-th percentile of an ascending array (nearest rank), NaN when empty. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
