import { existsSync, readFileSync } from "node:fs";
import { isIP } from "node:net";
import { availableParallelism } from "node:os";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { CronExpressionParser } from "cron-parser";
import { parse as parseDotenv } from "dotenv";

/**
 * Every setting Kaira reads, parsed and validated once at start-up. Values come from the
 * process environment, then from an optional `.env` file (the environment wins). A bad
 * value throws a ConfigError that names the variable, so start-up stops with a clear cause.
 */
export interface Config {
  nodeEnv: "development" | "production" | "test";
  host: string;
  port: number;
  /** `postgres://…` switches from the embedded database to PostgreSQL. */
  databaseUrl: string | undefined;
  /** Size of the PostgreSQL connection pool per process. */
  databasePoolSize: number;
  /** Longest any statement may run (PostgreSQL cancels it); 0 means no limit. */
  databaseStatementTimeoutMs: number;
  redisUrl: string | undefined;
  dataDir: string;
  /** The embedded database used without DATABASE_URL. */
  embeddedDatabase: EmbeddedDatabaseConfig;
  logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
  logFile: string | undefined;
  /** Pretty, human-readable logs; defaults to on when stdout is a terminal. */
  logPretty: boolean;
  corsOrigins: string[];
  /** Serve the interactive docs (/docs) and the OpenAPI document (/openapi.json). */
  docsEnabled: boolean;
  /** Live-feed sockets one user may hold on one instance; the next one is closed with 1008. */
  wsMaxSocketsPerUser: number;
  /**
   * Addresses and CIDR ranges of the proxies in front of Kaira; only requests from them have
   * their X-Forwarded-For read for the client address. Empty (the default) trusts no one.
   */
  trustedProxies: string[];
  /** Sign-ups per client address per clock hour; 0 turns the limit off. */
  signupPerHour: number;
  /** Host names accepted in the Host header; empty accepts any. `*.example.com` matches subdomains. */
  trustedHosts: string[];
  /** Seconds to keep serving (with readiness 503) after SIGTERM before closing the listener. */
  shutdownDrainSeconds: number;
  /** Seconds allowed for in-flight work to finish after the listener closes. */
  shutdownTimeoutSeconds: number;
  bodyLimitBytes: number;
  /**
   * Seconds a client has to send a whole request (headers and body, uploads included); a
   * slower one is cut off, so trickled bodies cannot hold connections and files open forever.
   */
  requestTimeoutSeconds: number;
  staticDir: string;
  auth: AuthConfig;
  oidc: OidcConfig;
  /** Requests per minute per client address; 0 turns the global limit off. */
  rateLimitPerMinute: number;
  /** Bootstrap admin created at start when no user has this email. */
  adminEmail: string | undefined;
  adminPassword: string | undefined;
  /** Seconds a hot read (post, profile, first feed page) stays cached; 0 turns caching off. */
  cacheTtlSeconds: number;
  jobs: JobsConfig;
  mail: MailConfig;
  accounts: AccountsConfig;
  uploads: UploadsConfig;
  backups: BackupsConfig;
  metrics: MetricsConfig;
  search: SearchConfig;
  telemetry: TelemetryConfig;
  /** Stored security events are deleted past this age, and past this count (oldest first). */
  securityEvents: { retentionDays: number; maxRows: number };
}

/** Traces and error reports: each off (and none of its code loaded) unless its setting is there. */
export interface TelemetryConfig {
  traces: TracesConfig | undefined;
  errorReports: ErrorReportsConfig | undefined;
}

export interface TracesConfig {
  /** Where spans are POSTed: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces. */
  endpoint: string;
  protocol: "http/protobuf" | "http/json";
  /** OTEL_SERVICE_NAME; unset, the API reports as "kaira" and the worker as "kaira-worker". */
  serviceName: string | undefined;
}

export interface ErrorReportsConfig {
  dsn: string;
  /** SENTRY_ENVIRONMENT, else NODE_ENV. */
  environment: string;
  /** SENTRY_RELEASE, else kaira@<version>. */
  release: string | undefined;
}

export interface BackupsConfig {
  /** Cron expression (UTC) for scheduled backups; unset turns them off. */
  schedule: string | undefined;
  /** Where scheduled and admin-started backups are written (and listed from). */
  dir: string;
  /** Scheduled backups kept; older ones are deleted after each successful backup. */
  keep: number;
}

export interface MetricsConfig {
  /** Off in production unless a token is set (the endpoint tells about traffic and load). */
  enabled: boolean;
  /** When set, scrapes must send `Authorization: Bearer <token>`. */
  token: string | undefined;
  /** Serve metrics on this port instead of the API's (undefined: the API's port). */
  port: number | undefined;
  /** `kaira worker` serves its metrics on this port (undefined: not served). */
  workerPort: number | undefined;
}

export interface SearchConfig {
  /** A search or suggestion answers within this (queue wait included), else 503 `search_timeout`. */
  timeoutMs: number;
  /** Searches running at once in this process; more wait in a queue as long, then 503. */
  concurrency: number;
  /** Searches one client (user, or address when anonymous) may run at once; more get 429. */
  concurrencyPerClient: number;
  /** A query matching more posts than this ranks only the newest this many. */
  rankWindow: number;
}

export interface UploadsConfig {
  /** Largest accepted file; a larger upload is cut off while streaming (413). */
  maxBytes: number;
  /** Total bytes of files one user may keep. */
  quotaBytes: number;
  /** Media types accepted, as detected from the bytes (never as the client claims). */
  allowedTypes: string[];
}

/** Raster images, PDF and plain text: what a community post attaches, and nothing a browser runs. */
export const DEFAULT_UPLOAD_TYPES = [
  "image/png",
  "image/jpeg",
  "image/gif",
  "image/webp",
  "application/pdf",
  "text/plain",
];

export interface JobsConfig {
  /** Run job processors inside the API process; default off only with both REDIS_URL and DATABASE_URL. */
  inProcess: boolean;
  /** Jobs one process runs at the same time. */
  concurrency: number;
  /** Attempts before a job is kept as failed (retried with exponential back-off). */
  attempts: number;
  /** How long a worker holds a job without renewing; a crashed worker's job runs again after it. */
  leaseSeconds: number;
  /** On SIGTERM, how long a worker waits for running jobs before it stops anyway. */
  shutdownSeconds: number;
}

export interface MailConfig {
  /** `smtp://` or `smtps://`; unset writes messages as .eml files under `dir` instead. */
  smtpUrl: string | undefined;
  from: string;
  dir: string;
}

export interface AccountsConfig {
  /** PUBLIC_URL: where users reach Kaira; links in mail start with it (no trailing slash). */
  publicUrl: string;
  /** REQUIRE_VERIFIED_EMAIL: unverified users cannot log in or write (posts, files, transfers). */
  requireVerifiedEmail: boolean;
  /** Account mails (verification, reset) one client address may ask for per hour; 0 = no limit. */
  mailPerHourPerAddress: number;
  /** Account mails of each kind sent to one account per hour; more requests are answered alike but send nothing. */
  mailPerHourPerAccount: number;
}

export interface OidcProviderConfig {
  /** The lower-case name in OIDC_PROVIDERS: the path segment and the identities' namespace. */
  name: string;
  issuer: string;
  clientId: string;
  clientSecret: string;
}

export interface OidcConfig {
  providers: OidcProviderConfig[];
  /** Where the browser lands after a sign-in, with `?code=` (or `?error=`) for the client. */
  returnUrl: string | undefined;
  /** The public origin providers redirect back to (`…/api/v1/auth/oidc/<name>/callback`). */
  callbackBaseUrl: string;
}

export interface AuthConfig {
  /** Signs access tokens (HS256). Unset outside production: generated once under DATA_DIR. */
  secretKey: string | undefined;
  /** Older signing secrets still accepted for verification while their tokens live out. */
  previousSecretKeys: string[];
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
  /** Absolute lifetime of a session from its login: no rotation extends it. */
  sessionMaxSeconds: number;
  /**
   * Presenting the refresh token spent last within this many seconds of its rotation gets a
   * new pair in the same session (a client's double refresh); later it counts as reuse.
   */
  refreshReuseLeewaySeconds: number;
  issuer: string;
  audience: string;
  /** Failed checks of one account's secret from one client address before that pair is throttled. */
  maxFailuresPerAccountAndAddress: number;
  /** Failed checks from one client address, on any accounts, before the address is throttled. */
  maxFailuresPerAddress: number;
  /**
   * Failed checks on one account from all addresses after which each address gets a single
   * failure on it before being throttled (slows distributed guessing; never locks the owner out).
   */
  maxFailuresPerAccount: number;
  failureWindowSeconds: number;
  /** First throttle period; it doubles with each further failure, up to the failure window. */
  lockoutSeconds: number;
}

/**
 * Searches at once on PostgreSQL unless SEARCH_CONCURRENCY says otherwise (never the whole
 * pool): half this machine's cores, at least one. A broad search keeps a core busy for its
 * whole run, so more searches at once than the database has cores to spare add no search
 * throughput — they only queue inside PostgreSQL, where they slow every other query. Measured
 * at a million posts on two cores: one search at a time gave the same searches per second as
 * four, at a fifth of the median search time, with profile reads' p99 at 1.6× their idle
 * figure instead of 3.6× (bench/README.md). Sized for a database on the same machine (the
 * embedded default); a database server of its own wants about half of its cores.
 */
export const DEFAULT_SEARCH_CONCURRENCY = Math.max(1, Math.floor(availableParallelism() / 2));

/** The weakest secret we accept: 32 characters (256 bits if random, as HS256 needs). */
export const MIN_SECRET_LENGTH = 32;

export interface EmbeddedDatabaseConfig {
  /**
   * EMBEDDED_ENGINE: `postgres` (a PostgreSQL server under DATA_DIR/postgres), `pglite`
   * (in-process, one process only), or `auto` (default): postgres where binaries exist for
   * the platform, else PGlite.
   */
  engine: "auto" | "postgres" | "pglite";
  /** EMBEDDED_PG_CREATE_USER: as root, create the `postgres` system user to run the server (containers). */
  createUser: boolean;
}

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`Invalid configuration: ${variable} ${message}`);
    this.name = "ConfigError";
  }
}

type Env = Record<string, string | undefined>;

function readString(env: Env, name: string, fallback: string): string {
  const value = env[name]?.trim();
  return value === undefined || value === "" ? fallback : value;
}

function readOptional(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === "" ? undefined : value;
}

function readInt(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = readOptional(env, name);
  if (raw === undefined) return fallback;
  if (!/^-?\d+$/.test(raw)) throw new ConfigError(name, `must be an integer, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max)
    throw new ConfigError(name, `must be between ${min} and ${max}, got ${value}`);
  return value;
}

const MEDIA_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/;

function readMediaTypes(env: Env, name: string, fallback: string[]): string[] {
  const types = readList(env, name).map((type) => type.toLowerCase());
  for (const type of types) {
    if (!MEDIA_TYPE.test(type))
      throw new ConfigError(name, `entries must be media types like image/png, got "${type}"`);
  }
  return types.length > 0 ? types : fallback;
}

function readOptionalPort(env: Env, name: string): number | undefined {
  return readOptional(env, name) === undefined ? undefined : readInt(env, name, 0, 1, 65535);
}

function readMetrics(env: Env, nodeEnv: Config["nodeEnv"]): MetricsConfig {
  const token = readOptional(env, "METRICS_TOKEN");
  if (token !== undefined && token.length < 16) {
    throw new ConfigError("METRICS_TOKEN", "must be at least 16 characters (e.g. `openssl rand -hex 16`)");
  }
  return {
    enabled: nodeEnv !== "production" || token !== undefined,
    token,
    port: readOptionalPort(env, "METRICS_PORT"),
    workerPort: readOptionalPort(env, "WORKER_METRICS_PORT"),
  };
}

function readBool(env: Env, name: string, fallback: boolean): boolean {
  const raw = readOptional(env, name)?.toLowerCase();
  if (raw === undefined) return fallback;
  if (["1", "true", "yes", "on"].includes(raw)) return true;
  if (["0", "false", "no", "off"].includes(raw)) return false;
  throw new ConfigError(name, `must be true or false, got "${raw}"`);
}

function readEnum<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = readOptional(env, name);
  if (raw === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new ConfigError(name, `must be one of ${allowed.join(", ")}, got "${raw}"`);
  }
  return raw as T;
}

function readList(env: Env, name: string): string[] {
  const raw = readOptional(env, name);
  if (raw === undefined) return [];
  return raw
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item !== "");
}

function readUrl(env: Env, name: string, protocols: string[]): string | undefined {
  const raw = readOptional(env, name);
  if (raw === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(name, "is not a valid URL");
  }
  if (!protocols.includes(url.protocol)) {
    throw new ConfigError(name, `must start with ${protocols.map((p) => `${p}//`).join(" or ")}`);
  }
  return raw;
}

/**
 * PUBLIC_URL, the origin (and optional path prefix) users reach Kaira at. Unset, the listen
 * address, which is right for development only: a server behind a proxy must set it. In
 * production it must be https (links carry one-time tokens) unless it names this machine.
 */
function readPublicUrl(env: Env, nodeEnv: Config["nodeEnv"], host: string, port: number): string {
  const raw = readUrl(env, "PUBLIC_URL", ["http:", "https:"]);
  if (raw === undefined) {
    const name = host === "0.0.0.0" || host === "::" ? "localhost" : host.includes(":") ? `[${host}]` : host;
    return `http://${name}:${port}`;
  }
  const url = new URL(raw);
  if (url.search || url.hash || url.username || url.password)
    throw new ConfigError("PUBLIC_URL", "must have no query, fragment or credentials");
  const local = ["localhost", "127.0.0.1", "[::1]"].includes(url.hostname);
  if (nodeEnv === "production" && url.protocol !== "https:" && !local)
    throw new ConfigError("PUBLIC_URL", "must be https:// in production");
  return `${url.origin}${url.pathname.replace(/\/+$/, "")}`;
}

function readAddressRanges(env: Env, name: string): string[] {
  const ranges = readList(env, name);
  for (const range of ranges) {
    const [address = "", prefix, ...rest] = range.split("/");
    const family = isIP(address);
    const bits = family === 4 ? 32 : 128;
    const prefixOk = prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= bits);
    if (family === 0 || !prefixOk || rest.length > 0) {
      throw new ConfigError(
        name,
        `entries must be IP addresses or CIDR ranges like 10.0.0.0/8, got "${range}"`,
      );
    }
  }
  return ranges;
}

function readOrigins(env: Env, name: string): string[] {
  const origins = readList(env, name);
  for (const origin of origins) {
    if (origin === "*") continue;
    try {
      const url = new URL(origin);
      if (url.origin !== origin) throw new Error("not an origin");
    } catch {
      throw new ConfigError(name, `entries must be origins like https://app.example.com, got "${origin}"`);
    }
  }
  return origins;
}

/** Reads `.env` from the working directory, if there is one. */
export function readDotenv(path = resolve(process.cwd(), ".env")): Env {
  return existsSync(path) ? parseDotenv(readFileSync(path)) : {};
}

function readSecret(env: Env, name: string): string | undefined {
  const value = readOptional(env, name);
  if (value !== undefined && value.length < MIN_SECRET_LENGTH) {
    throw new ConfigError(
      name,
      `must be at least ${MIN_SECRET_LENGTH} characters (e.g. \`openssl rand -hex 32\`)`,
    );
  }
  return value;
}

function readAuth(env: Env, nodeEnv: Config["nodeEnv"]): AuthConfig {
  const secretKey = readSecret(env, "SECRET_KEY");
  if (nodeEnv === "production" && secretKey === undefined) {
    throw new ConfigError(
      "SECRET_KEY",
      `is required in production: set a random secret of at least ${MIN_SECRET_LENGTH} characters (e.g. \`openssl rand -hex 32\`)`,
    );
  }
  const previousSecretKeys = readList(env, "SECRET_KEYS_PREVIOUS");
  for (const key of previousSecretKeys) {
    if (key.length < MIN_SECRET_LENGTH) {
      throw new ConfigError(
        "SECRET_KEYS_PREVIOUS",
        `entries must be at least ${MIN_SECRET_LENGTH} characters`,
      );
    }
  }
  const failureWindowSeconds = readInt(env, "LOGIN_FAILURE_WINDOW_SECONDS", 900, 1, 86_400);
  return {
    secretKey,
    previousSecretKeys,
    accessTokenTtlSeconds: readInt(env, "ACCESS_TOKEN_TTL_MINUTES", 30, 1, 1440) * 60,
    refreshTokenTtlSeconds: readInt(env, "REFRESH_TOKEN_TTL_DAYS", 14, 1, 365) * 86_400,
    sessionMaxSeconds: readInt(env, "SESSION_MAX_DAYS", 90, 1, 3650) * 86_400,
    refreshReuseLeewaySeconds: readInt(env, "REFRESH_REUSE_LEEWAY_SECONDS", 10, 0, 300),
    issuer: readString(env, "JWT_ISSUER", "kaira"),
    audience: readString(env, "JWT_AUDIENCE", "kaira-api"),
    maxFailuresPerAccountAndAddress: readInt(env, "LOGIN_MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS", 5, 1, 100),
    maxFailuresPerAddress: readInt(env, "LOGIN_MAX_FAILURES_PER_ADDRESS", 50, 1, 100_000),
    maxFailuresPerAccount: readInt(env, "LOGIN_MAX_FAILURES_PER_ACCOUNT", 20, 1, 100_000),
    failureWindowSeconds,
    lockoutSeconds: readInt(env, "LOGIN_LOCKOUT_SECONDS", 30, 1, 86_400),
  };
}

/** OIDC_PROVIDERS=google,corp with OIDC_<NAME>_ISSUER, _CLIENT_ID and _CLIENT_SECRET each. */
function readOidc(env: Env, port: number): OidcConfig {
  const names = readList(env, "OIDC_PROVIDERS").map((name) => name.toLowerCase());
  const providers = names.map((name) => {
    if (!/^[a-z0-9][a-z0-9-]{0,31}$/.test(name))
      throw new ConfigError("OIDC_PROVIDERS", `names must be letters, digits and dashes, got "${name}"`);
    const prefix = `OIDC_${name.toUpperCase().replace(/-/g, "_")}`;
    const required = (suffix: string) => {
      const value = readOptional(env, `${prefix}_${suffix}`);
      if (value === undefined)
        throw new ConfigError(`${prefix}_${suffix}`, `is required for the provider "${name}"`);
      return value;
    };
    return {
      name,
      issuer: readUrl(env, `${prefix}_ISSUER`, ["https:", "http:"]) ?? required("ISSUER"),
      clientId: required("CLIENT_ID"),
      clientSecret: required("CLIENT_SECRET"),
    };
  });
  const returnUrl = readUrl(env, "OIDC_RETURN_URL", ["https:", "http:"]);
  if (providers.length > 0 && returnUrl === undefined)
    throw new ConfigError("OIDC_RETURN_URL", "is required when OIDC_PROVIDERS is set");
  return {
    providers,
    returnUrl,
    callbackBaseUrl: (
      readUrl(env, "OIDC_CALLBACK_BASE_URL", ["https:", "http:"]) ?? `http://localhost:${port}`
    ).replace(/\/+$/, ""),
  };
}

function readCron(env: Env, name: string): string | undefined {
  const value = readOptional(env, name);
  if (value === undefined) return undefined;
  try {
    CronExpressionParser.parse(value, { tz: "UTC" });
  } catch (error) {
    throw new ConfigError(name, `must be a cron expression such as "0 3 * * *": ${(error as Error).message}`);
  }
  return value;
}

/**
 * Searches get fewer database connections than the pool holds, so whatever they do the rest
 * of the API (sign-in, writes, jobs, the outbox relay) always finds one. The embedded
 * database has a single connection: one search at a time, interleaved with everything else.
 */
function readSearch(env: Env, poolSize: number | undefined): SearchConfig {
  const concurrency = readInt(
    env,
    "SEARCH_CONCURRENCY",
    poolSize === undefined ? 1 : Math.max(1, Math.min(DEFAULT_SEARCH_CONCURRENCY, poolSize - 1)),
    1,
    1000,
  );
  if (poolSize !== undefined && poolSize > 1 && concurrency >= poolSize) {
    throw new ConfigError(
      "SEARCH_CONCURRENCY",
      `must be below DATABASE_POOL_SIZE (${poolSize}), so searches never take every connection`,
    );
  }
  return {
    timeoutMs: readInt(env, "SEARCH_TIMEOUT_MS", 2_000, 50, 600_000),
    concurrency,
    concurrencyPerClient: readInt(env, "SEARCH_CONCURRENCY_PER_CLIENT", 2, 1, 1000),
    rankWindow: readInt(env, "SEARCH_RANK_WINDOW", 10_000, 1, 10_000_000),
  };
}

const OTEL_SAMPLERS = [
  "always_on",
  "always_off",
  "traceidratio",
  "parentbased_always_on",
  "parentbased_always_off",
  "parentbased_traceidratio",
] as const;

/**
 * The standard OpenTelemetry variables Kaira reads itself (the rest, such as
 * OTEL_EXPORTER_OTLP_HEADERS or OTEL_BSP_SCHEDULE_DELAY, the SDK reads from the environment).
 * gRPC export is not bundled: a collector takes OTLP over HTTP on port 4318.
 */
function readTraces(env: Env): TracesConfig | undefined {
  const tracesEndpoint = readUrl(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", ["http:", "https:"]);
  const baseEndpoint = readUrl(env, "OTEL_EXPORTER_OTLP_ENDPOINT", ["http:", "https:"]);
  // Validated here so a typo stops start-up instead of silently sampling everything.
  readEnum(env, "OTEL_TRACES_SAMPLER", OTEL_SAMPLERS, "parentbased_always_on");
  const protocolName = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL?.trim()
    ? "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
    : "OTEL_EXPORTER_OTLP_PROTOCOL";
  const protocol = readEnum(env, protocolName, ["http/protobuf", "http/json"] as const, "http/protobuf");
  const endpoint =
    tracesEndpoint ?? (baseEndpoint ? `${baseEndpoint.replace(/\/+$/, "")}/v1/traces` : undefined);
  if (endpoint === undefined || readBool(env, "OTEL_SDK_DISABLED", false)) return undefined;
  return { endpoint, protocol, serviceName: readOptional(env, "OTEL_SERVICE_NAME") };
}

function readErrorReports(env: Env, nodeEnv: Config["nodeEnv"]): ErrorReportsConfig | undefined {
  const dsn = readUrl(env, "SENTRY_DSN", ["http:", "https:"]);
  if (dsn === undefined) return undefined;
  const url = new URL(dsn);
  if (url.username === "" || !/^\/(.*\/)?\d+$/.test(url.pathname)) {
    throw new ConfigError("SENTRY_DSN", "must look like https://PUBLIC_KEY@HOST/PROJECT_ID");
  }
  return {
    dsn,
    environment: readString(env, "SENTRY_ENVIRONMENT", nodeEnv),
    release: readOptional(env, "SENTRY_RELEASE"),
  };
}

export function loadConfig(env: Env = { ...readDotenv(), ...process.env }): Config {
  const nodeEnv = readEnum(env, "NODE_ENV", ["development", "production", "test"] as const, "development");
  const adminEmail = readOptional(env, "ADMIN_EMAIL");
  const adminPassword = readOptional(env, "ADMIN_PASSWORD");
  if ((adminEmail === undefined) !== (adminPassword === undefined)) {
    throw new ConfigError(
      adminEmail ? "ADMIN_PASSWORD" : "ADMIN_EMAIL",
      "must be set together with the other",
    );
  }
  if (adminPassword !== undefined && (adminPassword.length < 8 || adminPassword.length > 128)) {
    throw new ConfigError("ADMIN_PASSWORD", "must be 8 to 128 characters");
  }
  const dataDir = resolve(readString(env, "DATA_DIR", "./data"));
  const databaseUrl = readUrl(env, "DATABASE_URL", ["postgres:", "postgresql:"]);
  const redisUrl = readUrl(env, "REDIS_URL", ["redis:", "rediss:"]);
  const databasePoolSize = readInt(env, "DATABASE_POOL_SIZE", 10, 1, 1000);
  const embeddedDatabase: EmbeddedDatabaseConfig = {
    engine: readEnum(env, "EMBEDDED_ENGINE", ["auto", "postgres", "pglite"] as const, "auto"),
    createUser: readBool(env, "EMBEDDED_PG_CREATE_USER", false),
  };
  return {
    nodeEnv,
    host: readString(env, "HOST", "0.0.0.0"),
    port: readInt(env, "PORT", 9000, 0, 65535),
    databaseUrl,
    databasePoolSize,
    databaseStatementTimeoutMs: readInt(env, "DATABASE_STATEMENT_TIMEOUT_MS", 30_000, 0, 86_400_000),
    embeddedDatabase,
    redisUrl,
    dataDir,
    logLevel: readEnum(
      env,
      "LOG_LEVEL",
      ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const,
      "info",
    ),
    logFile: readOptional(env, "LOG_FILE"),
    logPretty: readBool(env, "LOG_PRETTY", process.stdout.isTTY === true && nodeEnv !== "production"),
    corsOrigins: readOrigins(env, "CORS_ORIGINS"),
    docsEnabled: readBool(env, "DOCS_ENABLED", true),
    wsMaxSocketsPerUser: readInt(env, "WS_MAX_SOCKETS_PER_USER", 16, 1, 10_000),
    trustedHosts: readList(env, "TRUSTED_HOSTS").map((host) => host.toLowerCase()),
    trustedProxies: readAddressRanges(env, "TRUSTED_PROXIES"),
    signupPerHour: readInt(env, "SIGNUP_PER_HOUR", 20, 0, 1_000_000),
    shutdownDrainSeconds: readInt(env, "SHUTDOWN_DRAIN_SECONDS", nodeEnv === "production" ? 5 : 0, 0, 300),
    shutdownTimeoutSeconds: readInt(env, "SHUTDOWN_TIMEOUT_SECONDS", 20, 1, 600),
    bodyLimitBytes: readInt(env, "BODY_LIMIT_BYTES", 1024 * 1024, 1024, 100 * 1024 * 1024),
    requestTimeoutSeconds: readInt(env, "REQUEST_TIMEOUT_SECONDS", 120, 1, 3_600),
    auth: readAuth(env, nodeEnv),
    oidc: readOidc(env, readInt(env, "PORT", 9000, 0, 65535)),
    rateLimitPerMinute: readInt(env, "RATE_LIMIT_PER_MINUTE", 600, 0, 1_000_000),
    adminEmail,
    adminPassword,
    cacheTtlSeconds: readInt(env, "CACHE_TTL_SECONDS", 60, 0, 86_400),
    jobs: {
      // `kaira worker` needs PostgreSQL, so with the embedded database the API runs its jobs.
      inProcess: readBool(env, "JOBS_IN_PROCESS", redisUrl === undefined || databaseUrl === undefined),
      concurrency: readInt(env, "WORKER_CONCURRENCY", 4, 1, 256),
      attempts: readInt(env, "JOB_ATTEMPTS", 5, 1, 100),
      leaseSeconds: readInt(env, "JOB_LEASE_SECONDS", 30, 1, 3600),
      shutdownSeconds: readInt(env, "WORKER_SHUTDOWN_SECONDS", 30, 0, 3600),
    },
    mail: {
      smtpUrl: readUrl(env, "SMTP_URL", ["smtp:", "smtps:"]),
      from: readString(env, "MAIL_FROM", "Kaira <no-reply@localhost>"),
      dir: resolve(readString(env, "MAIL_DIR", resolve(dataDir, "mail"))),
    },
    accounts: {
      publicUrl: readPublicUrl(
        env,
        nodeEnv,
        readString(env, "HOST", "0.0.0.0"),
        readInt(env, "PORT", 9000, 0, 65535),
      ),
      requireVerifiedEmail: readBool(env, "REQUIRE_VERIFIED_EMAIL", false),
      mailPerHourPerAddress: readInt(env, "ACCOUNT_MAIL_PER_HOUR_PER_ADDRESS", 20, 0, 1_000_000),
      mailPerHourPerAccount: readInt(env, "ACCOUNT_MAIL_PER_HOUR_PER_ACCOUNT", 3, 1, 1_000),
    },
    uploads: {
      maxBytes: readInt(env, "MAX_UPLOAD_BYTES", 10 * 1024 * 1024, 1, 2 ** 40),
      quotaBytes: readInt(env, "UPLOAD_QUOTA_BYTES", 1024 * 1024 * 1024, 0, 2 ** 50),
      allowedTypes: readMediaTypes(env, "UPLOAD_ALLOWED_TYPES", DEFAULT_UPLOAD_TYPES),
    },
    backups: {
      schedule: readCron(env, "BACKUP_SCHEDULE"),
      dir: resolve(readString(env, "BACKUP_DIR", resolve(dataDir, "backups"))),
      keep: readInt(env, "BACKUP_KEEP", 7, 1, 10_000),
    },
    metrics: readMetrics(env, nodeEnv),
    // PGlite is one connection; every PostgreSQL, embedded or not, has a pool.
    search: readSearch(
      env,
      databaseUrl === undefined && embeddedDatabase.engine === "pglite" ? undefined : databasePoolSize,
    ),
    staticDir: resolve(readString(env, "STATIC_DIR", fileURLToPath(new URL("../static", import.meta.url)))),
    telemetry: { traces: readTraces(env), errorReports: readErrorReports(env, nodeEnv) },
    securityEvents: {
      retentionDays: readInt(env, "SECURITY_EVENTS_RETENTION_DAYS", 90, 1, 3650),
      maxRows: readInt(env, "SECURITY_EVENTS_MAX_ROWS", 1_000_000, 1_000, 1_000_000_000),
    },
  };
}
