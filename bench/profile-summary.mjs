#!/usr/bin/env node
// Summarizes a V8 CPU profile (`node --cpu-prof`, e.g. from `npm run bench:writes -- --cpu-prof DIR`):
// busy time (idle excluded) by where the code lives, then the functions with the most self time.
//
//   node bench/profile-summary.mjs FILE.cpuprofile [--top N] [--windows DIR/windows.json --scenario NAME]
//
// With --windows (written by bench/writes.mjs --cpu-prof), only the samples taken during the measured
// runs of that scenario on that server (--server kaira|baseline) count: start-up and the other
// scenarios are left out.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    top: { type: "string", default: "25" },
    windows: { type: "string" },
    scenario: { type: "string" },
    server: { type: "string", default: "kaira" },
  },
});
if (positionals.length === 0) {
  console.error("usage: node bench/profile-summary.mjs FILE.cpuprofile [--top N]");
  process.exit(2);
}

// Order matters: the first pattern that matches a frame's URL names its group.
const GROUPS = [
  ["node-postgres (pg, pg-protocol)", /node_modules\/(pg|pg-protocol|pg-types|pg-pool|postgres-[a-z]+)\//],
  ["drizzle-orm", /node_modules\/drizzle-orm\//],
  [
    "fastify, find-my-way, light-my-request",
    /node_modules\/(fastify|@fastify\/[a-z-]+|find-my-way|avvio|light-my-request|fast-querystring|fastify-plugin)\//,
  ],
  ["ajv (validation)", /node_modules\/ajv/],
  ["fast-json-stringify (serialization)", /node_modules\/fast-json-stringify|node_modules\/fast-uri/],
  ["jose (JWT)", /node_modules\/jose\//],
  ["pino (logging)", /node_modules\/(pino|sonic-boom|thread-stream)/],
  ["ioredis", /node_modules\/(ioredis|redis-parser)/],
  ["opentelemetry, sentry", /node_modules\/(@opentelemetry|@sentry)/],
  ["other packages", /node_modules\//],
  ["Kaira src/", /\/src\//],
  ["Node.js internals", /^node:|^internal\//],
];

function groupOf(node) {
  const url = node.callFrame.url;
  const name = node.callFrame.functionName;
  if (name === "(garbage collector)") return "garbage collection";
  if (name === "(program)") return "(program: native, outside JS)";
  if (!url) return "native / builtins";
  for (const [group, pattern] of GROUPS) if (pattern.test(url)) return group;
  return "other";
}

for (const file of positionals) {
  const profile = JSON.parse(readFileSync(file, "utf8"));
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  // Self time per node: each sample is attributed to one node for the time delta after it.
  const windows = values.windows
    ? JSON.parse(readFileSync(values.windows, "utf8")).filter(
        (w) => w.server === values.server && (!values.scenario || w.scenario === values.scenario),
      )
    : undefined;
  const self = new Map();
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i];
    if (windows && !windows.some((w) => at >= w.startUs && at <= w.endUs)) continue;
    const id = profile.samples[i];
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i + 1] ?? 0));
  }
  let busy = 0;
  const groups = new Map();
  const functions = new Map();
  for (const [id, micros] of self) {
    const node = byId.get(id);
    if (node.callFrame.functionName === "(idle)") continue;
    busy += micros;
    const group = groupOf(node);
    groups.set(group, (groups.get(group) ?? 0) + micros);
    const url = node.callFrame.url.replace(/^.*node_modules\//, "").replace(/^.*\/src\//, "src/");
    const key = `${node.callFrame.functionName || "(anonymous)"} ${url}:${node.callFrame.lineNumber + 1}`;
    functions.set(key, (functions.get(key) ?? 0) + micros);
  }
  // Inclusive time of Kaira's own functions: a sample counts once for every distinct function of
  // the app on its stack, which shows which use case or background task the time belongs to.
  const parent = new Map();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const inclusive = new Map();
  for (const [id, micros] of self) {
    if (byId.get(id).callFrame.functionName === "(idle)") continue;
    const seen = new Set();
    for (let at = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at).callFrame;
      if (!/\/(src|dist)\//.test(frame.url) || frame.url.includes("node_modules")) continue;
      const key = `${frame.functionName || "(anonymous)"} ${frame.url.replace(/^.*\/(src|dist)\//, "")}:${frame.lineNumber + 1}`;
      if (seen.has(key)) continue;
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + micros);
    }
  }
  const pct = (x) => `${((100 * x) / busy).toFixed(1)} %`;
  console.log(`\n${file}: ${(busy / 1e6).toFixed(2)} s busy\n`);
  console.log("| where | share of busy time |\n| --- | ---: |");
  for (const [group, micros] of [...groups].sort((a, b) => b[1] - a[1]))
    console.log(`| ${group} | ${pct(micros)} |`);
  console.log("\n| function (self time) | share |\n| --- | ---: |");
  for (const [key, micros] of [...functions].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top))) {
    console.log(`| \`${key}\` | ${pct(micros)} |`);
  }
  console.log("\n| Kaira function (inclusive time) | share |\n| --- | ---: |");
  for (const [key, micros] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top))) {
    console.log(`| \`${key}\` | ${pct(micros)} |`);
  }
}
