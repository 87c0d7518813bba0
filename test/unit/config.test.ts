import { mkdtempSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, readDotenv } from "../../src/config.js";

describe("loadConfig", () => {
  it("turns traces on only with an OTLP endpoint, and error reports only with a Sentry DSN", () => {
    expect(loadConfig({}).telemetry).toEqual({ traces: undefined, errorReports: undefined });
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318/" }).telemetry.traces).toEqual({
      endpoint: "http://collector:4318/v1/traces",
      protocol: "http/protobuf",
      serviceName: undefined,
    });
    expect(
      loadConfig({
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318",
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "https://traces.example.com/otlp",
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
        OTEL_SERVICE_NAME: "kaira-eu",
      }).telemetry.traces,
    ).toEqual({
      endpoint: "https://traces.example.com/otlp",
      protocol: "http/json",
      serviceName: "kaira-eu",
    });
    expect(() =>
      loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" }),
    ).toThrow(/OTEL_EXPORTER_OTLP_PROTOCOL.*http\/protobuf, http\/json/);
    expect(() => loadConfig({ OTEL_TRACES_SAMPLER: "sometimes" })).toThrow(/OTEL_TRACES_SAMPLER/);
    expect(
      loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_SDK_DISABLED: "true" }).telemetry
        .traces,
    ).toBeUndefined();
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "collector:4318" })).toThrow(
      /OTEL_EXPORTER_OTLP_ENDPOINT/,
    );

    expect(
      loadConfig({ SENTRY_DSN: "https://abc@o1.ingest.example.com/42", NODE_ENV: "test" }).telemetry
        .errorReports,
    ).toEqual({
      dsn: "https://abc@o1.ingest.example.com/42",
      environment: "test",
      release: undefined,
    });
    expect(() => loadConfig({ SENTRY_DSN: "https://o1.ingest.example.com/42" })).toThrow(
      /SENTRY_DSN.*PUBLIC_KEY/,
    );
  });

  it("has working defaults: port 9000, embedded database under ./data", () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 9000,
      host: "0.0.0.0",
      databaseUrl: undefined,
      nodeEnv: "development",
    });
    expect(config.dataDir).toBe(join(process.cwd(), "data"));
    expect(config.corsOrigins).toEqual([]);
  });

  it("bounds search by default and keeps its concurrency below the PostgreSQL pool", () => {
    expect(loadConfig({ EMBEDDED_ENGINE: "pglite" }).search).toEqual({
      timeoutMs: 2000,
      concurrency: 1,
      concurrencyPerClient: 2,
      rankWindow: 10_000,
    });
    expect(loadConfig({}).databaseStatementTimeoutMs).toBe(30_000);
    // The embedded PostgreSQL server has a pool like any other.
    // Half the machine's cores, at least one (a broad search keeps a core busy).
    const halfTheCores = Math.max(1, Math.floor(availableParallelism() / 2));
    expect(loadConfig({}).search.concurrency).toBe(halfTheCores);
    const onPostgres = { DATABASE_URL: "postgres://u:p@db:5432/kaira" };
    expect(loadConfig(onPostgres).search.concurrency).toBe(Math.min(halfTheCores, 9));
    expect(loadConfig({ ...onPostgres, DATABASE_POOL_SIZE: "3" }).search.concurrency).toBe(
      Math.min(halfTheCores, 2),
    );
    expect(() => loadConfig({ ...onPostgres, SEARCH_CONCURRENCY: "10" })).toThrow(
      /SEARCH_CONCURRENCY.*below/,
    );
    expect(
      loadConfig({
        ...onPostgres,
        SEARCH_CONCURRENCY: "6",
        SEARCH_TIMEOUT_MS: "500",
        SEARCH_RANK_WINDOW: "100",
      }).search,
    ).toMatchObject({ concurrency: 6, timeoutMs: 500, rankWindow: 100 });
  });

  it("reads and types every kind of value", () => {
    const config = loadConfig({
      PORT: "8080",
      DATABASE_URL: "postgres://u:p@db:5432/kaira",
      CORS_ORIGINS: "https://a.example.com, https://b.example.com",
      TRUSTED_HOSTS: "API.example.com",
      LOG_LEVEL: "debug",
      LOG_PRETTY: "false",
    });
    expect(config).toMatchObject({
      port: 8080,
      databaseUrl: "postgres://u:p@db:5432/kaira",
      corsOrigins: ["https://a.example.com", "https://b.example.com"],
      trustedHosts: ["api.example.com"],
      logLevel: "debug",
      logPretty: false,
    });
  });

  it.each([
    ["PORT", "abc"],
    ["PORT", "70000"],
    ["DATABASE_URL", "mysql://x"],
    ["DATABASE_URL", "::::"],
    ["REDIS_URL", "http://x"],
    ["LOG_LEVEL", "loud"],
    ["NODE_ENV", "staging"],
    ["LOG_PRETTY", "maybe"],
    ["CORS_ORIGINS", "https://a.example.com/path"],
  ])("stops with an error naming %s for %j", (variable, value) => {
    let error: unknown;
    try {
      loadConfig({ [variable]: value });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe(variable);
    expect((error as Error).message).toContain(variable);
  });

  it("reads a .env file", () => {
    const dir = mkdtempSync(join(tmpdir(), "kaira-env-"));
    writeFileSync(join(dir, ".env"), "PORT=9100\n# comment\nLOG_LEVEL=warn\n");
    const config = loadConfig(readDotenv(join(dir, ".env")));
    expect(config.port).toBe(9100);
    expect(config.logLevel).toBe("warn");
    expect(readDotenv(join(dir, "missing.env"))).toEqual({});
  });
});

describe("auth settings", () => {
  it("refuse production without a SECRET_KEY, naming it", () => {
    expect(() => loadConfig({ NODE_ENV: "production" })).toThrow(/SECRET_KEY is required in production/);
    expect(() => loadConfig({ NODE_ENV: "production", SECRET_KEY: "short-secret" })).toThrow(
      /SECRET_KEY must be at least 32/,
    );
    const config = loadConfig({ NODE_ENV: "production", SECRET_KEY: "x".repeat(32) });
    expect(config.auth.secretKey).toHaveLength(32);
    expect(config.shutdownDrainSeconds).toBe(5);
  });

  it("reject weak previous keys and a half-configured bootstrap admin", () => {
    expect(() => loadConfig({ SECRET_KEYS_PREVIOUS: "weak" })).toThrow(ConfigError);
    expect(() => loadConfig({ ADMIN_EMAIL: "a@example.com" })).toThrow(/ADMIN_PASSWORD/);
    expect(() => loadConfig({ ADMIN_EMAIL: "a@example.com", ADMIN_PASSWORD: "short" })).toThrow(
      /ADMIN_PASSWORD/,
    );
  });

  it("read token lifetimes and throttling limits", () => {
    const { auth } = loadConfig({
      ACCESS_TOKEN_TTL_MINUTES: "15",
      REFRESH_TOKEN_TTL_DAYS: "7",
      LOGIN_MAX_FAILURES_PER_ACCOUNT: "10",
    });
    expect(auth).toMatchObject({
      accessTokenTtlSeconds: 900,
      refreshTokenTtlSeconds: 7 * 86_400,
      maxFailuresPerAccount: 10,
    });
  });
});

describe("jobs, mail and cache settings", () => {
  it("run jobs in the API process unless PostgreSQL and Redis are both set (then in workers)", () => {
    const distributed = { DATABASE_URL: "postgres://db/kaira", REDIS_URL: "redis://localhost:6379" };
    expect(loadConfig({}).jobs.inProcess).toBe(true);
    expect(loadConfig(distributed).jobs.inProcess).toBe(false);
    expect(loadConfig({ ...distributed, JOBS_IN_PROCESS: "true" }).jobs.inProcess).toBe(true);
    // `kaira worker` needs PostgreSQL: with the embedded database the API runs the jobs itself.
    expect(loadConfig({ REDIS_URL: "redis://localhost:6379" }).jobs.inProcess).toBe(true);
  });

  it("default the mail directory under DATA_DIR and write files unless SMTP_URL is set", () => {
    const config = loadConfig({ DATA_DIR: "/srv/kaira" });
    expect(config.mail).toEqual({
      smtpUrl: undefined,
      from: "Kaira <no-reply@localhost>",
      dir: "/srv/kaira/mail",
    });
    expect(loadConfig({ SMTP_URL: "smtps://u:p@mail.example.com:465" }).mail.smtpUrl).toBe(
      "smtps://u:p@mail.example.com:465",
    );
  });

  it.each([
    ["SMTP_URL", "http://mail.example.com"],
    ["JOB_ATTEMPTS", "0"],
    ["JOB_LEASE_SECONDS", "soon"],
    ["CACHE_TTL_SECONDS", "-1"],
    ["JOBS_IN_PROCESS", "maybe"],
  ])("reject a bad %s, naming it", (variable, value) => {
    expect(() => loadConfig({ [variable]: value })).toThrow(variable);
  });
});
