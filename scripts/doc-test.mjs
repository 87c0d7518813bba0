#!/usr/bin/env node
/**
 * Tests the guide (docs/guide/*.md), run by `npm run test:docs` and by .ci/run:
 *
 * 1. Every path named in an inline code span (`src/app.ts`, `test/helpers/`, …) exists, and
 *    every relative Markdown link points at a file that exists (and, for `file.md#anchor`, at a
 *    heading that exists).
 * 2. Every fenced block opened with ```sh runnable (or bash runnable) runs with bash, in
 *    the order of its chapter, against a Kaira that this script starts itself: the embedded
 *    default on a fresh temporary DATA_DIR and a free port. A block fails when it exits
 *    non-zero (it runs under `set -eo pipefail`) or takes longer than 90 s.
 * 3. A block's output (stdout and stderr together) is compared with the fenced block that
 *    follows it when that one is ```text expect. The whole output must match, line by line,
 *    after trailing spaces and trailing blank lines are dropped:
 *      - `…` inside a line matches any run of characters on that line (ids, times, tokens);
 *      - a line that is only `…` matches any number of lines, none included;
 *      - everything else must be equal.
 *
 * Blocks see the environment of the instance: KAIRA (its base URL, http://127.0.0.1:<port>),
 * DATA_DIR (so `npx kaira seed` and other commands attach to its database) and LOG_FILE (its
 * JSON log). Each block starts in the repository root. Shell variables and functions set by a
 * block are kept for the next blocks of the same chapter, not for other chapters.
 *
 * One instance serves the whole run: a fresh start costs about 5 s here (the TypeScript
 * sources load through tsx, then initdb and the migrations), which for every chapter would be
 * most of the run's time. Chapters are written not to depend on each other instead: each signs
 * up its own users under names of its own and reads ids from the responses, never assuming
 * "user 1". The instance runs with SIGNUP_PER_HOUR=0, since the whole guide signs up more
 * users from one address than the default allows in an hour.
 *
 * Usage: node scripts/doc-test.mjs [--links-only] [chapter.md …]
 *   chapter files (paths or names under docs/guide/) limit the run to them;
 *   --links-only checks the paths and links and starts nothing.
 * Exit 0 when everything passes, 1 otherwise (each failure names its file and line).
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const guideDir = join(repoRoot, "docs", "guide");
const BLOCK_TIMEOUT_MS = 90_000;
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 25_000;

/** Top-level folders whose paths, named in a code span, must exist. */
const CHECKED_ROOTS = [
  "src",
  "test",
  "scripts",
  "bench",
  "deploy",
  "docs",
  "drizzle",
  "static",
  "resources",
  "bin",
  ".ci",
  ".github",
];
const PATH_IN_SPAN = new RegExp(
  `(?:^|[\\s(="'])((?:${CHECKED_ROOTS.map((r) => r.replace(".", "\\.")).join("|")})/[A-Za-z0-9_.@+/-]*)`,
  "g",
);

// ---------------------------------------------------------------------------------------
// Parsing

/**
 * Splits a Markdown file into fenced blocks (with their info words and 1-based line of the
 * opening fence) and the prose lines outside them.
 */
export function parseMarkdown(text) {
  const lines = text.split("\n");
  const blocks = [];
  const prose = [];
  let open;
  lines.forEach((line, index) => {
    const fence = /^ {0,3}(`{3,}|~{3,})\s*(.*)$/.exec(line);
    if (open) {
      if (fence && fence[1][0] === open.marker[0] && fence[1].length >= open.marker.length && !fence[2]) {
        blocks.push({ ...open, body: open.lines.join("\n") });
        open = undefined;
      } else {
        open.lines.push(line);
      }
      return;
    }
    if (fence) {
      const words = fence[2].trim().split(/\s+/).filter(Boolean);
      open = { marker: fence[1], lang: words[0] ?? "", words: words.slice(1), line: index + 1, lines: [] };
      return;
    }
    prose.push({ line: index + 1, text: line });
  });
  if (open) blocks.push({ ...open, body: open.lines.join("\n"), unclosed: true });
  return { blocks, prose };
}

const isRunnable = (block) =>
  ["sh", "bash", "shell"].includes(block.lang) && block.words.includes("runnable");
const isExpect = (block) => block.lang === "text" && block.words.includes("expect");

// ---------------------------------------------------------------------------------------
// Matching

const trimLines = (text) => {
  const lines = text
    .replace(/\r\n/g, "\n")
    .split("\n")
    .map((l) => l.replace(/\s+$/, ""));
  while (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  while (lines.length > 0 && lines[0] === "") lines.shift();
  return lines;
};

const escapeRegExp = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** One expected line as a regular expression: `…` matches any run of characters. */
const lineMatcher = (expected) => new RegExp(`^${expected.split("…").map(escapeRegExp).join(".*")}$`);

/**
 * Matches output lines against expected lines (see the header for the rules). Returns
 * undefined on a match, else the 0-based index of the first expected line that could not be
 * matched. A line that is only `…` is a wildcard over whole lines, matched by backtracking
 * (outputs here are short).
 */
export function matchOutput(outputText, expectedText) {
  const output = trimLines(outputText);
  const expected = trimLines(expectedText);
  const matchers = expected.map((line) => (line === "…" ? undefined : lineMatcher(line)));
  let furthest = 0;
  const memo = new Map();
  const walk = (e, o) => {
    const key = e * (output.length + 1) + o;
    if (memo.has(key)) return memo.get(key);
    furthest = Math.max(furthest, e);
    let ok;
    if (e === expected.length) ok = o === output.length;
    else if (matchers[e] === undefined) {
      ok = false;
      for (let skip = o; skip <= output.length && !ok; skip++) ok = walk(e + 1, skip);
    } else ok = o < output.length && matchers[e].test(output[o]) && walk(e + 1, o + 1);
    memo.set(key, ok);
    return ok;
  };
  return walk(0, 0) ? undefined : Math.min(furthest, Math.max(expected.length - 1, 0));
}

// ---------------------------------------------------------------------------------------
// Paths and links

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
const slug = (heading) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/`/g, "")
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");

const anchorsCache = new Map();
function anchorsOf(file) {
  if (!anchorsCache.has(file)) {
    const { prose } = parseMarkdown(readFileSync(file, "utf8"));
    const seen = new Map();
    const anchors = new Set();
    for (const { text } of prose) {
      const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(text);
      if (!heading) continue;
      const base = slug(heading[1]);
      const count = seen.get(base) ?? 0;
      seen.set(base, count + 1);
      anchors.add(count === 0 ? base : `${base}-${count}`);
    }
    anchorsCache.set(file, anchors);
  }
  return anchorsCache.get(file);
}

/** Problems with the paths named in code spans and the relative links of one file. */
export function checkReferences(file) {
  const problems = [];
  const where = (line) => `${relative(repoRoot, file)}:${line}`;
  const { prose } = parseMarkdown(readFileSync(file, "utf8"));
  for (const { line, text } of prose) {
    for (const span of text.matchAll(/`([^`]+)`/g)) {
      for (const match of span[1].matchAll(PATH_IN_SPAN)) {
        const path = match[1].replace(/[.:]+$/, "");
        if (/[<>*{}…]/.test(span[1].slice(match.index, match.index + match[0].length + 1))) continue;
        if (!existsSync(join(repoRoot, path))) problems.push(`${where(line)}: \`${path}\` does not exist`);
      }
    }
    const withoutSpans = text.replace(/`[^`]*`/g, "");
    for (const link of withoutSpans.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      const target = link[1];
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, https:, mailto:
      const [pathPart, anchor] = target.split("#");
      const targetFile = pathPart ? resolve(dirname(file), decodeURIComponent(pathPart)) : file;
      if (!existsSync(targetFile)) {
        problems.push(`${where(line)}: link to ${target}: ${relative(repoRoot, targetFile)} does not exist`);
      } else if (anchor && targetFile.endsWith(".md") && !anchorsOf(targetFile).has(anchor)) {
        problems.push(`${where(line)}: link to ${target}: no heading with that anchor`);
      }
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------
// The instance

function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The environment every command sees: the instance's, never a configured external database. */
function baseEnvironment(extra) {
  const env = { ...process.env };
  for (const name of ["DATABASE_URL", "REDIS_URL", "NODE_ENV", "PORT", "HOST"]) delete env[name];
  return { ...env, ...extra, NO_COLOR: "1", LOG_PRETTY: "false" };
}

async function startInstance() {
  const dataDir = mkdtempSync(join(tmpdir(), "kaira-doc-test-"));
  const port = await freePort();
  const logFile = join(dataDir, "logs", "kaira.log");
  const shared = { DATA_DIR: dataDir, LOG_FILE: logFile };
  const env = baseEnvironment({ ...shared, HOST: "127.0.0.1", PORT: String(port), SIGNUP_PER_HOUR: "0" });
  const child = spawn(process.execPath, [join(repoRoot, "bin", "kaira.js"), "serve"], {
    cwd: repoRoot,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (d) => {
    output += d;
  });
  child.stderr.on("data", (d) => {
    output += d;
  });
  const exited = new Promise((r) => child.once("exit", (code, signal) => r({ code, signal })));
  const baseUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let ready = false;
  while (!ready && Date.now() < deadline && child.exitCode === null) {
    try {
      ready = (await fetch(`${baseUrl}/health/ready`, { signal: AbortSignal.timeout(2000) })).ok;
    } catch {
      // not listening yet
    }
    if (!ready) await sleep(200);
  }
  const instance = {
    baseUrl,
    dataDir,
    blockEnv: baseEnvironment({ ...shared, KAIRA: baseUrl }),
    log: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(timer);
      }
      // The embedded PostgreSQL server stops when its last Kaira process exits; wait for its
      // pid file to go before removing the directory under it.
      const pidFile = join(dataDir, "postgres", "pgdata", "postmaster.pid");
      for (let i = 0; i < 100 && existsSync(pidFile); i++) await sleep(100);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  if (!ready) {
    await instance.stop();
    throw new Error(`Kaira did not become ready within ${READY_TIMEOUT_MS / 1000} s:\n${output}`);
  }
  return instance;
}

// ---------------------------------------------------------------------------------------
// Running blocks

/** Names bash defines itself, which the state carried between blocks must not hold. */
const SHELL_VARIABLES =
  /^(BASH.*|COMP_.*|COLUMNS|DIRSTACK|EUID|FUNCNAME|GROUPS|HISTCMD|HOSTNAME|HOSTTYPE|IFS|LINENO|LINES|MACHTYPE|OLDPWD|OPTARG|OPTERR|OPTIND|OSTYPE|PIPESTATUS|PPID|PS[0-9]|PWD|RANDOM|SECONDS|SHELL|SHELLOPTS|SHLVL|SRANDOM|UID|EPOCHREALTIME|EPOCHSECONDS|_|__doc_.*)$/;

function runBlock(block, { stateFile, env }) {
  const script = [
    "exec 2>&1",
    `cd ${JSON.stringify(repoRoot)}`,
    `source ${JSON.stringify(stateFile)}`,
    "__doc_save() {",
    "  local __doc_name",
    `  { for __doc_name in $(compgen -v); do [[ $__doc_name =~ ${SHELL_VARIABLES.source} ]] || declare -p "$__doc_name" 2>/dev/null; done; declare -f; } > ${JSON.stringify(stateFile)}`,
    "}",
    // `npx kaira …` is what a reader types; it runs node_modules/.bin/kaira, which is
    // bin/kaira.js. Calling that directly runs the same program without npm's own start-up
    // (a second or more per command on a busy machine, and the guide has a dozen of them).
    `npx() { if [[ "$1" == kaira ]]; then shift; node ${JSON.stringify(join(repoRoot, "bin", "kaira.js"))} "$@"; else command npx "$@"; fi; }`,
    "trap __doc_save EXIT",
    "set -eo pipefail",
    block.body,
  ].join("\n");
  return new Promise((resolveRun) => {
    const child = spawn("bash", ["-c", script], { cwd: repoRoot, env, detached: true, stdio: "pipe" });
    let output = "";
    child.stdout.on("data", (d) => {
      output += d;
    });
    child.stderr.on("data", (d) => {
      output += d;
    });
    child.stdin.end();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }, BLOCK_TIMEOUT_MS);
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      resolveRun({ code, signal, output, timedOut });
    });
  });
}

const indent = (text) =>
  text
    .split("\n")
    .map((l) => `    ${l}`)
    .join("\n");

async function runChapter(file, instance) {
  const name = relative(repoRoot, file);
  const { blocks } = parseMarkdown(readFileSync(file, "utf8"));
  const failures = [];
  const stateDir = mkdtempSync(join(tmpdir(), "kaira-doc-state-"));
  const stateFile = join(stateDir, "state.sh");
  writeFileSync(stateFile, "");
  let ran = 0;
  try {
    for (let i = 0; i < blocks.length; i++) {
      const block = blocks[i];
      if (block.unclosed) failures.push(`${name}:${block.line}: unclosed code fence`);
      if (isExpect(block) && !isRunnable(blocks[i - 1] ?? {})) {
        failures.push(`${name}:${block.line}: an expect block must follow a runnable block`);
      }
      if (!isRunnable(block)) continue;
      if (failures.length > 0) break; // later blocks build on earlier ones
      const result = await runBlock(block, { stateFile, env: instance.blockEnv });
      ran++;
      const expectBlock = isExpect(blocks[i + 1] ?? {}) ? blocks[i + 1] : undefined;
      let problem;
      if (result.timedOut) problem = `timed out after ${BLOCK_TIMEOUT_MS / 1000} s`;
      else if (result.code !== 0) problem = `exited with ${result.code ?? result.signal}`;
      else if (expectBlock) {
        const mismatch = matchOutput(result.output, expectBlock.body);
        if (mismatch !== undefined) {
          const expectedLine = trimLines(expectBlock.body)[mismatch] ?? "";
          problem = `output does not match the expect block at line ${expectBlock.line} (first unmatched: line ${
            expectBlock.line + 1 + mismatch
          }, ${JSON.stringify(expectedLine)})`;
        }
      }
      if (problem) {
        failures.push(
          `${name}:${block.line}: runnable block ${problem}\n  command:\n${indent(block.body)}\n  output:\n${indent(
            result.output.trimEnd(),
          )}`,
        );
      }
    }
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
  return { ran, failures };
}

// ---------------------------------------------------------------------------------------

async function main() {
  const args = process.argv.slice(2);
  const linksOnly = args.includes("--links-only");
  const chosen = args.filter((a) => !a.startsWith("--"));
  const allFiles = readdirSync(guideDir)
    .filter((f) => f.endsWith(".md"))
    .sort()
    .map((f) => join(guideDir, f));
  const files =
    chosen.length === 0
      ? allFiles
      : chosen.map((c) => (existsSync(resolve(c)) ? resolve(c) : join(guideDir, basename(c))));
  const started = performance.now();
  const failures = [];

  for (const file of files) {
    if (!existsSync(file)) failures.push(`${relative(repoRoot, file)}: no such chapter`);
    else failures.push(...checkReferences(file));
  }
  console.log(`paths and links: ${failures.length === 0 ? "ok" : `${failures.length} problem(s)`}`);

  const chapters = files.filter(
    (f) => existsSync(f) && parseMarkdown(readFileSync(f, "utf8")).blocks.some(isRunnable),
  );
  if (!linksOnly && chapters.length > 0) {
    const instance = await startInstance();
    console.log(`kaira: ${instance.baseUrl} (DATA_DIR ${instance.dataDir})`);
    const stop = () => instance.stop().finally(() => process.exit(130));
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    try {
      for (const file of chapters) {
        const chapterStarted = performance.now();
        const { ran, failures: chapterFailures } = await runChapter(file, instance);
        const seconds = ((performance.now() - chapterStarted) / 1000).toFixed(1);
        const mark = chapterFailures.length === 0 ? "ok  " : "FAIL";
        console.log(`${mark} ${relative(repoRoot, file)}: ${ran} block(s), ${seconds} s`);
        failures.push(...chapterFailures);
      }
    } finally {
      if (failures.length > 0) {
        const log = instance.log().trim().split("\n").slice(-15).join("\n");
        if (log) console.log(`\nthe instance's last log lines:\n${indent(log)}`);
      }
      await instance.stop();
    }
  }

  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  if (failures.length > 0) {
    console.error(`\n${failures.join("\n\n")}\n\ndoc-test: ${failures.length} failure(s) in ${seconds} s`);
    process.exit(1);
  }
  console.log(`doc-test: passed in ${seconds} s`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
