import { pathToFileURL } from "node:url";
import { buildApp } from "./app.js";
import { type Config, loadConfig } from "./config.js";
import { startMetricsServer } from "./http/metrics-endpoint.js";
import { openDatabase } from "./platform/database/index.js";
import { createLogger } from "./platform/logger.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs the API: open the database, migrate, build, listen — and on SIGTERM/SIGINT drain:
 * readiness turns 503 at once, the listener stays open for SHUTDOWN_DRAIN_SECONDS so load
 * balancers notice, then closes and in-flight requests finish before the process exits 0.
 */
export async function serve(config: Config = loadConfig()): Promise<void> {
  const logger = createLogger(config);
  const database = await openDatabase(config);
  await database.migrate();
  const app = await buildApp(config, { database, logger });

  let metricsServer: Awaited<ReturnType<typeof startMetricsServer>> | undefined;
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.lifecycle.draining = true;
    logger.info(
      { event: "shutdown.started", signal, drain_seconds: config.shutdownDrainSeconds },
      "shutting down",
    );
    const deadline = setTimeout(
      () => {
        logger.error({ event: "shutdown.timeout" }, "shutdown timed out; exiting");
        process.exit(1);
      },
      (config.shutdownDrainSeconds + config.shutdownTimeoutSeconds) * 1000,
    );
    deadline.unref();
    await sleep(config.shutdownDrainSeconds * 1000);
    await metricsServer?.close();
    await app.close();
    // Last: the app's own close (relays, in-process jobs, cache) still uses the database.
    await database.close();
    logger.info({ event: "shutdown.completed" }, "stopped");
    logger.flush();
    process.exitCode = 0;
  };
  process.once("SIGTERM", () => void stop("SIGTERM"));
  process.once("SIGINT", () => void stop("SIGINT"));

  await app.listen({ host: config.host, port: config.port });
  if (config.metrics.enabled && config.metrics.port !== undefined) {
    metricsServer = await startMetricsServer({
      host: config.host,
      port: config.metrics.port,
      metrics: app.metrics,
      token: config.metrics.token,
      onError: (error) => logger.warn({ err: error, event: "metrics.failed" }, "metrics listener error"),
    });
    logger.info({ event: "metrics.listening", port: metricsServer.port }, "metrics on their own port");
  }
  logger.info(
    {
      event: "server.started",
      database: database.kind,
      data_dir: database.kind === "embedded" ? config.dataDir : undefined,
    },
    `Kaira listening on http://${config.host}:${config.port} (docs at /docs)`,
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  serve().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
