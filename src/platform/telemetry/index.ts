import { readFileSync } from "node:fs";
import { register } from "node:module";
import type { TelemetryConfig } from "../../config.js";
import { installErrorReporter, installTracer } from "./telemetry.js";

export * from "./telemetry.js";

/** Which process reports: names the service in traces ("kaira", "kaira-worker") and errors. */
export type TelemetryProcess = "api" | "worker";

/**
 * Turns on traces (with OTEL_EXPORTER_OTLP_ENDPOINT) and error reports (with SENTRY_DSN) for
 * this process. Call it before anything imports `pg`, `ioredis`, `fastify` or `node:http`
 * (the CLI does, ahead of importing the server or the worker), because instrumentation works
 * by patching modules as they load. With both off it loads nothing: the telemetry packages
 * are imported only here, and only when their setting is there.
 */
export async function startTelemetry(config: TelemetryConfig, process: TelemetryProcess): Promise<void> {
  const version = kairaVersion();
  if (config.traces) {
    // ESM imports are patched through a loader hook (import-in-the-middle); CommonJS through
    // require. The hook wraps only the modules an instrumentation asks for, and must be in
    // place before they are imported.
    const { createAddHookMessageChannel } = await import("import-in-the-middle");
    const { registerOptions, waitForAllMessagesAcknowledged } = createAddHookMessageChannel();
    register("import-in-the-middle/hook.mjs", import.meta.url, registerOptions);
    const { startTracing } = await import("./tracing.js");
    installTracer(startTracing(config.traces, process === "api" ? "kaira" : "kaira-worker", version));
    await waitForAllMessagesAcknowledged();
  }
  if (config.errorReports) {
    const { startErrorReports } = await import("./error-reports.js");
    installErrorReporter(startErrorReports(config.errorReports, process, version));
  }
}

function kairaVersion(): string {
  // package.json sits three levels up from both src/platform/telemetry and dist/platform/telemetry.
  const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}
