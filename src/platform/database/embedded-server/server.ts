import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import pg from "pg";
import { onInterrupt } from "../../process/interrupt-cleanups.js";
import { isAlive } from "../../process/pids.js";
import { locateBinaries, type PostgresBinaries } from "./binaries.js";
import { EmbeddedPostgresSetupError, reachableBy, type SystemUser, serverUser } from "./system-user.js";

/** The role and database Kaira creates in its embedded server. */
export const EMBEDDED_ROLE = "kaira";
export const EMBEDDED_DATABASE = "kaira";

export interface EmbeddedServerOptions {
  /** DATA_DIR: the server lives in DATA_DIR/postgres. */
  dataDir: string;
  /** EMBEDDED_PG_CREATE_USER: when root, create the `postgres` system user if missing. */
  createUser?: boolean;
  /** Told what is happening while a start takes a moment (initdb, start, stop). */
  log?: (message: string) => void;
  /** Where the platform package is (tests); by default it is resolved from node_modules. */
  packageDir?: string;
  /** The account to run PostgreSQL as (tests); by default root runs it as `postgres`. */
  user?: SystemUser | undefined;
  /**
   * Ports the server must not take: the ones this Kaira process binds after the database is
   * open (PORT, METRICS_PORT, WORKER_METRICS_PORT). A free port is only free until someone
   * binds it, so the server would otherwise take an ephemeral PORT that Kaira had not bound yet.
   */
  reservedPorts?: readonly number[];
}

/** Where the embedded server keeps everything, all under DATA_DIR/postgres. */
export function serverPaths(dataDir: string) {
  const root = join(dataDir, "postgres");
  return {
    root,
    pgdata: join(root, "pgdata"),
    password: join(root, "password"),
    lock: join(root, "server.lock"),
    clients: join(root, "clients"),
    log: join(root, "server.log"),
    runtime: join(root, "runtime"),
  };
}

export class EmbeddedServerError extends Error {
  override name = "EmbeddedServerError";
}

/** `kaira db stop` while other processes use the server; exit 2 with their ids. */
export class EmbeddedServerInUseError extends Error {
  override name = "EmbeddedServerInUseError";
  constructor(readonly pids: number[]) {
    super(
      `The embedded PostgreSQL server is in use by process${pids.length > 1 ? "es" : ""} ${pids.join(", ")}. ` +
        "Stop them first, or pass --force to disconnect them.",
    );
  }
}

export interface ServerStatus {
  running: boolean;
  /** The postmaster's pid and port when running. */
  pid?: number;
  port?: number;
  url?: string;
  /** Processes attached to it (their pids), and whether `kaira db start` keeps it running. */
  clients: number[];
  pinned: boolean;
  initialized: boolean;
}

const PINNED = "pinned";
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The PostgreSQL server of one DATA_DIR, shared by every Kaira process that uses it: the
 * first process to attach starts it, the others attach to it, and the last to detach stops
 * it — unless `kaira db start` pinned it. Decisions to start or stop are taken under a lock
 * file, so two processes never start two servers or stop one another's. Each attached
 * process leaves a lease (DATA_DIR/postgres/clients/<pid>-<id>); a lease whose process died
 * (kill -9) no longer counts. The server itself is found through its own postmaster.pid,
 * so a server orphaned by a killed process is reused, and a stale pid file after a reboot
 * is recovered by PostgreSQL's own start-up (its WAL replay keeps every committed write).
 */
export class EmbeddedServer {
  readonly paths: ReturnType<typeof serverPaths>;
  private readonly log: (message: string) => void;
  private user: SystemUser | undefined;
  private userResolved = false;

  constructor(private readonly options: EmbeddedServerOptions) {
    this.paths = serverPaths(options.dataDir);
    this.log = options.log ?? (() => {});
    if ("user" in options) {
      this.user = options.user;
      this.userResolved = true;
    }
  }

  /** Starts the server if needed and records this process as a client; returns its URL. */
  async attach(): Promise<{ url: string; detach: () => Promise<void> }> {
    const lease = `${process.pid}-${randomBytes(4).toString("hex")}`;
    const attaching = this.withLock(async () => {
      const url = await this.ensureRunning();
      mkdirSync(this.paths.clients, { recursive: true });
      writeFileSync(join(this.paths.clients, lease), "");
      return url;
    });
    let detached = false;
    // Held from the start, so an interrupt during the server's start still gives it back: the
    // server runs in a session of its own (pg_ctl detaches it from the terminal), so without
    // this it would outlive an interrupted command until some later Kaira process came and went.
    const forgetOnInterrupt = onInterrupt(() => detach());
    const detach = async () => {
      if (detached) return;
      detached = true;
      forgetOnInterrupt();
      // Interrupted while starting: once the start is over (or has failed — a Ctrl-C reaches
      // pg_ctl too), this process is out, and a server nobody else uses stops.
      await attaching.catch(() => undefined);
      await this.withLock(async () => {
        rmSync(join(this.paths.clients, lease), { force: true });
        if (this.pinned() || this.liveClients().length > 0) return;
        await this.stopServer();
      });
    };
    try {
      return { url: await attaching, detach };
    } catch (error) {
      forgetOnInterrupt();
      throw error;
    }
  }

  /** `kaira db start`: starts the server and keeps it running after this process exits. */
  async startPinned(): Promise<string> {
    return this.withLock(async () => {
      const url = await this.ensureRunning();
      writeFileSync(join(this.paths.root, PINNED), "");
      return url;
    });
  }

  /** `kaira db stop`: stops the server, refusing while other processes use it unless forced. */
  async stop(options: { force?: boolean } = {}): Promise<boolean> {
    return this.withLock(async () => {
      const clients = this.liveClients();
      if (clients.length > 0 && !options.force) throw new EmbeddedServerInUseError(clients);
      rmSync(join(this.paths.root, PINNED), { force: true });
      rmSync(this.paths.clients, { recursive: true, force: true });
      return this.stopServer();
    });
  }

  /** What `kaira db status` shows; takes no lock and starts nothing. */
  async status(): Promise<ServerStatus> {
    const running = this.readPostmaster();
    const base = {
      clients: this.liveClients(),
      pinned: this.pinned(),
      initialized: existsSync(join(this.paths.pgdata, "PG_VERSION")),
    };
    // A pid file left by a crash says "ready" too: only a live postgres process counts.
    if (running?.status !== "ready" || !isAlive(running.pid) || !isPostgresProcess(running.pid))
      return { running: false, ...base };
    return { running: true, pid: running.pid, port: running.port, url: this.url(running.port), ...base };
  }

  /** The connection URL of the running server, or undefined when it is not running. */
  async runningUrl(): Promise<string | undefined> {
    return (await this.status()).url;
  }

  // --- starting and stopping -----------------------------------------------------------

  private async ensureRunning(): Promise<string> {
    const running = await this.runningPostmaster();
    if (running) return this.url(running.port);
    if (!existsSync(join(this.paths.pgdata, "PG_VERSION"))) await this.initialize();
    const port = await this.startServer();
    await this.ensureDatabase(port);
    return this.url(port);
  }

  /** The postmaster answering for this data directory, waiting out one that starts or stops. */
  private async runningPostmaster(): Promise<{ pid: number; port: number } | undefined> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const postmaster = this.readPostmaster();
      if (!postmaster) return undefined;
      if (!isAlive(postmaster.pid) || !isPostgresProcess(postmaster.pid)) {
        // Left by a server that is gone (a crash, a reboot): PostgreSQL would take over a
        // dead pid's file itself, but not one whose pid now belongs to another program.
        rmSync(join(this.paths.pgdata, "postmaster.pid"), { force: true });
        return undefined;
      }
      if (postmaster.status === "ready" || postmaster.status === "standby") return postmaster;
      if (Date.now() > deadline) {
        throw new EmbeddedServerError(
          `The embedded PostgreSQL server (pid ${postmaster.pid}) has been "${postmaster.status}" for a minute; see ${this.paths.log}.`,
        );
      }
      await sleep(100);
    }
  }

  private readPostmaster(): { pid: number; port: number; status: string } | undefined {
    let text: string;
    try {
      text = readFileSync(join(this.paths.pgdata, "postmaster.pid"), "utf8");
    } catch {
      return undefined;
    }
    // Lines: pid, data directory, start time, port, socket directory, listen address,
    // shared memory key, status.
    const lines = text.split("\n");
    const pid = Number.parseInt(lines[0] ?? "", 10);
    const port = Number.parseInt(lines[3] ?? "", 10);
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    return { pid, port, status: (lines[7] ?? "").trim() || "starting" };
  }

  private async initialize(): Promise<void> {
    const binaries = this.binaries();
    this.log(
      // The package's version is PostgreSQL's plus a build suffix of its own ("18.4.0-beta.17"),
      // which would read as a beta PostgreSQL.
      `Creating the embedded PostgreSQL ${binaries.version.split("-")[0]} database in ${this.paths.pgdata} (first start only)`,
    );
    this.password(); // generated before initdb reads it
    const staging = `${this.paths.pgdata}.init`;
    rmSync(staging, { recursive: true, force: true });
    const result = await this.run(binaries, "initdb", [
      "-D",
      staging,
      "-U",
      EMBEDDED_ROLE,
      `--pwfile=${this.paths.password}`,
      "--auth=scram-sha-256",
      "--encoding=UTF8",
      "--locale=C",
      "--no-instructions",
      // Loopback only, no unix socket, and small enough for a laptop; fsync stays on.
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      "unix_socket_directories=",
      "-c",
      "shared_buffers=16MB",
      "-c",
      "max_connections=100",
    ]);
    if (result.code !== 0) {
      rmSync(staging, { recursive: true, force: true });
      throw new EmbeddedServerError(`initdb failed: ${lastLines(result.output)}`);
    }
    renameSync(staging, this.paths.pgdata);
  }

  private async startServer(): Promise<number> {
    const binaries = this.binaries();
    this.log(`Starting the embedded PostgreSQL server (${this.paths.pgdata})`);
    for (let attempt = 1; ; attempt++) {
      const port = await freePort(this.options.reservedPorts);
      const result = await this.run(binaries, "pg_ctl", [
        "start",
        "-D",
        this.paths.pgdata,
        "-l",
        this.paths.log,
        "-w",
        "-t",
        "60",
        "-s",
        "-o",
        // A laptop's database: no I/O worker processes (PostgreSQL 18 starts three by default)
        // and no logical replication launcher, which nothing here uses — four processes and
        // about 30 MB fewer. Given at each start, so existing clusters get them too.
        `-p ${port} -c io_method=sync -c max_logical_replication_workers=0`,
      ]);
      if (result.code === 0) return port;
      const log = this.logTail();
      if (attempt < 5) {
        // Another program took the port between our check and the server's bind: try another.
        if (/could not bind|Address already in use/i.test(log)) continue;
        // The processes of a server that was killed are still leaving: give them a moment.
        if (/shared memory block is still in use/i.test(log)) {
          await sleep(500 * attempt);
          continue;
        }
      }
      throw new EmbeddedServerError(
        `The embedded PostgreSQL server did not start: ${lastLines(log || result.output)} (log: ${this.paths.log})`,
      );
    }
  }

  private async ensureDatabase(port: number): Promise<void> {
    const client = new pg.Client({ connectionString: this.url(port, "postgres") });
    client.on("error", () => {});
    await client.connect();
    try {
      const found = await client.query("select 1 from pg_database where datname = $1", [EMBEDDED_DATABASE]);
      if (found.rowCount === 0) await client.query(`create database ${EMBEDDED_DATABASE}`);
    } finally {
      await client.end();
    }
  }

  private async stopServer(): Promise<boolean> {
    const running = this.readPostmaster();
    if (!running || !isAlive(running.pid)) return false;
    this.log("Stopping the embedded PostgreSQL server");
    const result = await this.run(this.binaries(), "pg_ctl", [
      "stop",
      "-D",
      this.paths.pgdata,
      "-m",
      "fast",
      "-w",
      "-t",
      "60",
      "-s",
    ]);
    if (result.code !== 0 && this.readPostmaster()) {
      throw new EmbeddedServerError(
        `The embedded PostgreSQL server did not stop: ${lastLines(result.output)}`,
      );
    }
    return true;
  }

  // --- files, users and processes ------------------------------------------------------

  url(port: number, database = EMBEDDED_DATABASE): string {
    const password = encodeURIComponent(this.password());
    return `postgres://${EMBEDDED_ROLE}:${password}@127.0.0.1:${port}/${database}`;
  }

  /** Generated once and kept in DATA_DIR/postgres/password, readable by its owner only. */
  private password(): string {
    this.prepareRoot();
    try {
      return readFileSync(this.paths.password, "utf8").trim();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
    const password = randomBytes(24).toString("base64url");
    const partial = `${this.paths.password}.${process.pid}`;
    writeFileSync(partial, `${password}\n`, { mode: 0o600 });
    const user = this.runAs();
    // initdb reads it as the server's account.
    if (user) chownSync(partial, user.uid, user.gid);
    renameSync(partial, this.paths.password);
    return password;
  }

  /** DATA_DIR/postgres: private to the account that runs the server. */
  private prepareRoot(): void {
    if (existsSync(this.paths.root)) return;
    // DATA_DIR itself keeps the usual mode (files and mail live there too).
    mkdirSync(this.options.dataDir, { recursive: true });
    mkdirSync(this.paths.root, { mode: 0o700 });
    const user = this.runAs();
    if (user) {
      chownSync(this.paths.root, user.uid, user.gid);
      // A private DATA_DIR of ours (mkdtemp makes 0700) lets the server's account pass
      // through to its own directory: search permission only, nobody may list it.
      const dataDir = statSync(this.options.dataDir);
      if (dataDir.uid === process.getuid?.() && (dataDir.mode & 0o001) === 0) {
        chmodSync(this.options.dataDir, (dataDir.mode & 0o7777) | 0o001);
      }
      if (!reachableBy(user, this.paths.root)) {
        rmSync(this.paths.root, { recursive: true, force: true });
        throw new EmbeddedPostgresSetupError(
          `The "${user.name}" user that runs PostgreSQL cannot reach ${this.paths.root}: ` +
            "choose a DATA_DIR it can reach (not under /root), run Kaira as a normal user, or set DATABASE_URL.",
        );
      }
    }
  }

  private runAs(): SystemUser | undefined {
    if (!this.userResolved) {
      this.user = serverUser({ createUser: this.options.createUser ?? false });
      this.userResolved = true;
    }
    return this.user;
  }

  private cachedBinaries: PostgresBinaries | undefined;
  private binaries(): PostgresBinaries {
    if (this.cachedBinaries) return this.cachedBinaries;
    this.prepareRoot();
    const user = this.runAs();
    const found = locateBinaries({
      copyTo: this.paths.runtime,
      packageDir: this.options.packageDir,
      ...(user ? { usable: (binDir: string) => reachableBy(user, join(binDir, "postgres")) } : {}),
    });
    if (!found) {
      throw new EmbeddedPostgresSetupError(
        "No PostgreSQL binaries are installed for this platform: set EMBEDDED_ENGINE=pglite or DATABASE_URL.",
      );
    }
    this.cachedBinaries = found;
    return found;
  }

  private run(
    binaries: PostgresBinaries,
    program: string,
    args: string[],
  ): Promise<{ code: number | null; output: string }> {
    const user = this.runAs();
    return new Promise((resolve, reject) => {
      const child = spawn(join(binaries.binDir, program), args, {
        cwd: this.paths.root,
        // Only what the programs need: no PG* variable of the caller's may redirect them.
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", LC_ALL: "C", TZ: process.env.TZ ?? "UTC" },
        stdio: ["ignore", "pipe", "pipe"],
        ...(user ? { uid: user.uid, gid: user.gid } : {}),
      });
      let output = "";
      child.stdout.on("data", (chunk) => {
        output += chunk;
      });
      child.stderr.on("data", (chunk) => {
        output += chunk;
      });
      child.once("error", reject);
      child.once("close", (code) => resolve({ code, output }));
    });
  }

  private logTail(): string {
    try {
      return readFileSync(this.paths.log, "utf8").split("\n").slice(-20).join("\n");
    } catch {
      return "";
    }
  }

  private pinned(): boolean {
    return existsSync(join(this.paths.root, PINNED));
  }

  /** Pids of attached processes; leases of processes that died are removed on the way. */
  private liveClients(): number[] {
    let leases: string[];
    try {
      leases = readdirSync(this.paths.clients);
    } catch {
      return [];
    }
    const pids = new Set<number>();
    for (const lease of leases) {
      const pid = Number.parseInt(lease, 10);
      if (Number.isInteger(pid) && isAlive(pid)) pids.add(pid);
      else rmSync(join(this.paths.clients, lease), { force: true });
    }
    return [...pids];
  }

  /**
   * Runs `work` holding DATA_DIR/postgres/server.lock (created with O_EXCL, holding our pid);
   * a lock left by a dead process is taken over. Waits up to two minutes for another holder.
   */
  private async withLock<T>(work: () => Promise<T>): Promise<T> {
    this.prepareRoot();
    const deadline = Date.now() + 120_000;
    for (;;) {
      try {
        const fd = openSync(this.paths.lock, "wx", 0o600);
        writeSync(fd, String(process.pid));
        closeSync(fd);
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
        const holder = Number.parseInt(readFileSafe(this.paths.lock), 10);
        // An empty file is a holder between creating it and writing its pid: give it a moment.
        const stale = Number.isInteger(holder) ? !isAlive(holder) : ageMs(this.paths.lock) > 5_000;
        if (stale) {
          rmSync(this.paths.lock, { force: true });
          continue;
        }
        if (Date.now() > deadline) {
          throw new EmbeddedServerError(`Process ${holder} has held ${this.paths.lock} for two minutes.`);
        }
        await sleep(50);
      }
    }
    try {
      return await work();
    } finally {
      rmSync(this.paths.lock, { force: true });
    }
  }
}

function ageMs(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

function readFileSafe(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

/** Whether `pid` runs PostgreSQL (Linux tells through /proc; elsewhere a live pid is trusted). */
function isPostgresProcess(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim().startsWith("postgres");
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== "ENOENT" || !existsSync("/proc/self");
  }
}

function lastLines(text: string, count = 3): string {
  return text.trim().split("\n").slice(-count).join(" | ");
}

/** A port on 127.0.0.1 that nothing listens on right now and that is not one of `reserved`. */
export async function freePort(
  reserved: readonly number[] = [],
  probe: () => Promise<number> = unusedPort,
): Promise<number> {
  for (;;) {
    const port = await probe();
    if (!reserved.includes(port)) return port;
  }
}

/** A port the system hands out for 127.0.0.1 right now (bound, then released). */
function unusedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}
