import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { EmbeddedServer, freePort } from "../../src/platform/database/embedded-server/server.js";

const KAIRA_BIN = fileURLToPath(new URL("../../bin/kaira.js", import.meta.url));

// A port on 127.0.0.1 that nothing listens on right now: the embedded server's own finder.
export { freePort };

export interface KairaProcess {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

/** Runs the real `kaira` command as a user would, with only the given environment. */
export function runKaira(args: string[], env: Record<string, string>): KairaProcess {
  return runNode([KAIRA_BIN, ...args], env);
}

/** Runs `node <argv>` with only the given environment (plus PATH, HOME and REDIS_URL). */
export function runNode(argv: string[], env: Record<string, string>): KairaProcess {
  const child = spawn(process.execPath, argv, {
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "",
      LOG_PRETTY: "false",
      ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL } : {}),
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (chunk) => {
    output += chunk;
  });
  child.stderr?.on("data", (chunk) => {
    output += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, output: () => output, exited };
}

/** Polls until `condition` holds or the deadline passes — no fixed sleeps. */
export async function waitFor<T>(
  condition: () => Promise<T | undefined | false>,
  timeoutMs: number,
  what: string,
) {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await condition();
      if (value) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`Timed out waiting for ${what}${lastError ? `: ${String(lastError)}` : ""}`);
}

/** Starts `kaira serve` (or another entry point that serves, given as node's argv) and waits until ready. */
export async function startServer(env: Record<string, string>, argv: string[] = [KAIRA_BIN, "serve"]) {
  // A free port is free only when it is checked: another process (another test's server, an
  // embedded PostgreSQL finding a port of its own) may take it before this server binds it.
  // The server then stops at once, saying so, and starts again on another free port.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startServerOnce(env, argv);
    } catch (error) {
      if (env.PORT || attempt >= 3 || !(error instanceof PortTakenError)) throw error;
    }
  }
}

class PortTakenError extends Error {}

async function startServerOnce(env: Record<string, string>, argv: string[]) {
  // A PORT given (a URL in the environment must name it) or a free one.
  const port = env.PORT ? Number(env.PORT) : await freePort();
  const server = runNode(argv, { HOST: "127.0.0.1", ...env, PORT: String(port) });
  const baseUrl = `http://127.0.0.1:${port}`;
  let exitCode: number | null | undefined;
  server.exited.then((code) => {
    exitCode = code;
  });
  try {
    await waitFor(
      async () => exitCode !== undefined || (await fetch(`${baseUrl}/health/ready`)).status === 200,
      90_000,
      "the server to become ready",
    );
  } catch (error) {
    // A server that never became ready is not left running behind the failed test.
    server.child.kill("SIGKILL");
    throw error;
  }
  if (exitCode !== undefined) {
    const message = `server exited with ${exitCode}: ${server.output()}`;
    throw /port is already in use/.test(server.output()) ? new PortTakenError(message) : new Error(message);
  }
  return { ...server, baseUrl };
}

/**
 * Stops the embedded PostgreSQL server of `dataDir` if one still runs there: a test that
 * killed a process with SIGKILL (or failed half-way) leaves it behind, as a crash would.
 */
export async function stopEmbeddedServer(dataDir: string): Promise<void> {
  await new EmbeddedServer({ dataDir }).stop({ force: true });
}
