import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, runKaira, stopEmbeddedServer, waitFor } from "../helpers/process.js";
import { createTestDatabase, onPostgres, type TestDatabase } from "../helpers/test-database.js";

// A new user's first hour, with real processes: the CLI answers at once, start-up says what
// it does, failures are one line with a hint, and stopping works however the server runs.
const root = fileURLToPath(new URL("../..", import.meta.url));
const kairaBin = join(root, "bin", "kaira.js");
let testDb: TestDatabase | undefined;
let databaseEnv: Record<string, string>;
const dataDir = mkdtempSync(join(tmpdir(), "kaira-first-hour-"));

beforeAll(async () => {
  if (onPostgres()) {
    testDb = await createTestDatabase();
    databaseEnv = { DATABASE_URL: testDb.url as string };
  } else {
    databaseEnv = { DATA_DIR: dataDir };
  }
});
afterAll(async () => {
  await testDb?.drop();
  await stopEmbeddedServer(dataDir);
});

/** Runs kaira to completion; `cpuSeconds` is user + system time, which load cannot inflate. */
function kairaTimed(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(
    "bash",
    [
      "-c",
      'TIMEFORMAT="%U %S"; { time "$@" >"$KAIRA_OUT" 2>&1; } 2>&1',
      "kaira",
      process.execPath,
      kairaBin,
      ...args,
    ],
    {
      env: {
        PATH: process.env.PATH ?? "",
        HOME: process.env.HOME ?? "",
        KAIRA_OUT: join(dataDir, "out.txt"),
        ...env,
      },
      encoding: "utf8",
    },
  );
  const [user, sys] = result.stdout.trim().split("\n").pop()?.split(" ").map(Number) ?? [];
  return {
    exitCode: result.status,
    output: readFileSync(join(dataDir, "out.txt"), "utf8"),
    cpuSeconds: (user ?? 0) + (sys ?? 0),
  };
}

const oneLine = (output: string) => output.trim().split("\n");
/**
 * The last line meant for a person: structured log lines (JSON, on stdout) are left out, since
 * a job finishing during a failed start may flush its log line after the error message.
 */
const lastMessage = (output: string) =>
  oneLine(output)
    .filter((line) => !line.startsWith("{"))
    .pop();
const noStackTrace = (output: string) => expect(output).not.toMatch(/^\s+at /m);

describe("the kaira command", { timeout: 300_000 }, () => {
  it("answers help, --version, --help and argument errors without loading the app", () => {
    const version = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version as string;
    const cases: [string[], number, RegExp][] = [
      [["help"], 0, /^Usage: kaira <command>/],
      [[], 0, /^Usage: kaira <command>/],
      [["--version"], 0, new RegExp(`^${version.replaceAll(".", "\\.")}\\n$`)],
      [["seed", "--help"], 0, /^Usage: kaira seed \[--users N\] \[--posts M\]/],
      [["help", "create-admin"], 0, /--promote/],
      [["serve", "--help"], 0, /^Usage: kaira serve \[--port N\] \[--host H\]/],
      [["frobnicate"], 2, /^Unknown command "frobnicate"/],
      [["seed", "--users", "many"], 2, /^--users must be a whole number, got "many"/],
      [["serve", "--port", "70000"], 2, /^--port must be between 0 and 65535/],
      [["serve", "--bogus"], 2, /Unknown option '--bogus'/],
      [
        ["create-admin", "--email", "not-an-email", "--password", "Long-Enough-1"],
        2,
        /^--email must be an email address/,
      ],
      [
        ["create-admin", "--email", "a@example.com", "--password", "short"],
        2,
        /^--password must be 8 to 128/,
      ],
    ];
    for (const [args, exitCode, expected] of cases) {
      const run = kairaTimed(args);
      expect(run.exitCode, args.join(" ")).toBe(exitCode);
      expect(run.output, args.join(" ")).toMatch(expected);
      noStackTrace(run.output);
      // Loading the app through the sources costs over 10 s of CPU (`kaira openapi` measured
      // 15 s); these answers cost about one second even on a loaded machine, so 3 s still
      // tells the two apart without failing on a busy one.
      expect(run.cpuSeconds, args.join(" ")).toBeLessThan(3);
    }
  });

  it("writes only the JSON document to standard output for openapi, whatever the environment", () => {
    const file = join(dataDir, "openapi.json");
    execFileSync("bash", ["-c", `"${process.execPath}" "${kairaBin}" openapi > "${file}"`], {
      env: {
        PATH: process.env.PATH ?? "",
        HOME: process.env.HOME ?? "",
        // Set, but never contacted: the document needs neither.
        REDIS_URL: "redis://127.0.0.1:1/0",
        DATABASE_URL: "postgres://nobody@127.0.0.1:1/none",
        ADMIN_EMAIL: "admin@example.com",
        ADMIN_PASSWORD: "Admin-Pass-123",
        LOG_LEVEL: "debug",
      },
      stdio: ["ignore", "ignore", "pipe"],
    });
    const doc = JSON.parse(readFileSync(file, "utf8"));
    expect(doc.openapi).toBe("3.1.0");
    const output = join(dataDir, "openapi-output.json");
    const run = kairaTimed(["openapi", "--output", output]);
    expect(run.exitCode).toBe(0);
    expect(JSON.parse(readFileSync(output, "utf8")).paths["/api/v1/ws"]).toBeDefined();
  });
});

describe("runtime failures: one line with a hint, no stack trace", { timeout: 240_000 }, () => {
  it("says PostgreSQL cannot be reached, exit 1", async () => {
    const port = await freePort();
    const run = runKaira(["serve"], { DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/kaira` });
    expect(await run.exited).toBe(1);
    const lines = oneLine(run.output()).filter((line) => !line.startsWith("{"));
    expect(lines).toEqual([
      `Cannot reach PostgreSQL at 127.0.0.1:${port} (ECONNREFUSED). Is it running? Check DATABASE_URL (host and port).`,
    ]);
  });

  it.runIf(onPostgres())("names a missing role and a missing database, exit 2", async () => {
    const url = new URL(testDb?.url as string);
    url.username = "kaira_no_such_role";
    const role = runKaira(["migrate"], { DATABASE_URL: url.toString() });
    expect(await role.exited).toBe(2);
    expect(oneLine(role.output())).toHaveLength(1);
    expect(role.output()).toContain('PostgreSQL has no role "kaira_no_such_role". Create it');

    const database = new URL(testDb?.url as string);
    database.pathname = "/kaira_no_such_database";
    const missing = runKaira(["serve"], { DATABASE_URL: database.toString() });
    expect(await missing.exited).toBe(2);
    expect(missing.output()).toContain('PostgreSQL has no database "kaira_no_such_database". Create it');
    noStackTrace(missing.output());
  });

  it("says the port is in use (exit 1) and that HOST cannot be bound (exit 2)", async () => {
    const taken = createServer();
    const port = await new Promise<number>((resolve) =>
      taken.listen(0, "127.0.0.1", () => resolve((taken.address() as { port: number }).port)),
    );
    try {
      const inUse = runKaira(["serve"], { ...databaseEnv, HOST: "127.0.0.1", PORT: String(port) });
      expect(await inUse.exited).toBe(1);
      const last = lastMessage(inUse.output());
      expect(last).toBe(
        `Cannot listen on 127.0.0.1:${port}: the port is already in use. Stop the other server (\`lsof -i :${port}\` shows it) or choose another PORT.`,
      );
      noStackTrace(inUse.output());
    } finally {
      taken.close();
    }
    // 203.0.113.0/24 is reserved for documentation: no machine has it.
    const address = runKaira(["serve", "--host", "203.0.113.7", "--port", "0"], databaseEnv);
    expect(await address.exited).toBe(2);
    expect(lastMessage(address.output())).toMatch(
      /^Cannot listen on HOST=203\.0\.113\.7: this machine has no such address/,
    );
    const name = runKaira(["serve", "--port", "0"], { ...databaseEnv, HOST: "no-such-host.invalid" });
    expect(await name.exited).toBe(2);
    expect(lastMessage(name.output())).toMatch(
      /^Cannot listen on HOST=no-such-host\.invalid: the name does not resolve/,
    );
  });
});

describe("a first session", { timeout: 240_000 }, () => {
  it("seeds, promotes a demo user to admin, and serves with --port/--host, saying what it does", async () => {
    const seed = runKaira(["seed", "--users", "2", "--posts", "20"], databaseEnv);
    expect(await seed.exited).toBe(0);
    const login = /Log in as (demo_\w+) \(or any other demo user\) with the password (\S+)/.exec(
      seed.output(),
    );
    expect(login, seed.output()).not.toBeNull();
    const [, username, password] = login as RegExpExecArray;
    const email = `${username?.replaceAll("_", "-")}@example.com`;

    const plain = runKaira(["create-admin", "--email", email], databaseEnv);
    expect(await plain.exited).toBe(2);
    expect(plain.output()).toContain("Add --promote to make them an admin");
    const unknown = runKaira(["create-admin", "--email", "nobody-yet@example.com", "--promote"], databaseEnv);
    expect(await unknown.exited).toBe(2);
    expect(unknown.output()).toContain("creating an admin needs --password");
    const promote = runKaira(["create-admin", "--email", email, "--promote"], databaseEnv);
    expect(await promote.exited).toBe(0);
    expect(promote.output()).toMatch(
      new RegExp(`User ${email} \\(id \\d+, username ${username}\\) is now an admin\\.`),
    );

    const port = await freePort();
    const server = runKaira(["serve", "--port", String(port), "--host", "127.0.0.1"], databaseEnv);
    try {
      const url = `http://127.0.0.1:${port}`;
      await waitFor(
        async () => server.output().includes(`Kaira listening on ${url}, docs at ${url}/docs`),
        90_000,
        "the listening line",
      );
      expect(server.output()).toContain("Starting Kaira (development); opening ");
      expect(server.output()).toMatch(/Database ready after \d+\.\d s/);
      expect((await fetch(`${url}/`)).status).toBe(200);
      const token = await fetch(`${url}/api/v1/auth/token`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ username: username as string, password: password as string }),
      });
      expect(token.status).toBe(200);
      expect(((await token.json()) as { scope: string }).scope.split(" ")).toContain("admin");
    } finally {
      server.child.kill("SIGTERM");
      expect(await server.exited).toBe(0);
    }
  });
});

describe("stopping", { timeout: 240_000 }, () => {
  it("stops the server when the npm start process is killed", async () => {
    const port = await freePort();
    const npm = spawn("npm", ["start"], {
      cwd: root,
      env: { ...process.env, ...databaseEnv, HOST: "127.0.0.1", PORT: String(port), LOG_PRETTY: "false" },
      stdio: "ignore",
    });
    const url = `http://127.0.0.1:${port}/health/live`;
    try {
      await waitFor(async () => (await fetch(url)).ok, 90_000, "npm start to serve");
      npm.kill("SIGTERM");
      // The server itself, not only npm, goes away: the port stops answering.
      await waitFor(
        async () => {
          try {
            await fetch(url);
            return false;
          } catch {
            return true;
          }
        },
        15_000,
        "the server to stop",
      );
    } finally {
      npm.kill("SIGKILL");
    }
  });

  const hasRedisServer = spawnSync("redis-server", ["--version"]).status === 0;
  it.runIf(hasRedisServer)("exits within 5 s of SIGTERM while Redis is down", async () => {
    const redisPort = await freePort();
    const redis: ChildProcess = spawn(
      "redis-server",
      ["--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
      { stdio: "ignore" },
    );
    const port = await freePort();
    const server = runKaira(["serve"], {
      ...databaseEnv,
      HOST: "127.0.0.1",
      PORT: String(port),
      REDIS_URL: `redis://127.0.0.1:${redisPort}/0`,
      // Jobs in this process: BullMQ's worker is the part that waits on Redis when closing.
      JOBS_IN_PROCESS: "true",
    });
    try {
      const ready = `http://127.0.0.1:${port}/health/ready`;
      await waitFor(async () => (await fetch(ready)).status === 200, 90_000, "readiness with Redis");
      const redisGone = new Promise((resolve) => redis.once("exit", resolve));
      redis.kill("SIGKILL");
      await redisGone;
      await waitFor(async () => (await fetch(ready)).status === 503, 10_000, "readiness to notice");
      const started = performance.now();
      server.child.kill("SIGTERM");
      expect(await server.exited).toBe(0);
      expect(performance.now() - started).toBeLessThan(5_000);
    } finally {
      redis.kill("SIGKILL");
      server.child.kill("SIGKILL");
    }
  });
});

describe("which code bin/kaira.js runs", () => {
  // A copy of bin/ beside a fake src/ and dist/, sharing the real node_modules.
  const layout = () => {
    const dir = mkdtempSync(join(tmpdir(), "kaira-bin-"));
    mkdirSync(join(dir, "bin"));
    copyFileSync(kairaBin, join(dir, "bin", "kaira.js"));
    writeFileSync(join(dir, "package.json"), '{"type":"module"}');
    symlinkSync(join(root, "node_modules"), join(dir, "node_modules"));
    mkdirSync(join(dir, "src", "cli"), { recursive: true });
    writeFileSync(join(dir, "src", "cli", "main.ts"), 'const from: string = "sources"; console.log(from);\n');
    mkdirSync(join(dir, "dist", "cli"), { recursive: true });
    writeFileSync(join(dir, "dist", "cli", "main.js"), 'console.log("dist");\n');
    return dir;
  };
  const run = (dir: string, env: Record<string, string>) =>
    spawnSync(process.execPath, [join(dir, "bin", "kaira.js")], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? "", ...env },
      encoding: "utf8",
    });

  it("runs the sources in development and refuses a stale dist/ in production", () => {
    const dir = layout();
    const past = new Date(Date.now() - 60_000);
    utimesSync(join(dir, "dist", "cli", "main.js"), past, past);
    expect(run(dir, {}).stdout.trim()).toBe("sources");
    const stale = run(dir, { NODE_ENV: "production" });
    expect(stale.status).toBe(2);
    expect(stale.stderr).toContain("dist/ is older than src/: run `npm run build` again");
    const future = new Date(Date.now() + 60_000);
    utimesSync(join(dir, "dist", "cli", "main.js"), future, future);
    expect(run(dir, { NODE_ENV: "production" }).stdout.trim()).toBe("dist");
  });
});
