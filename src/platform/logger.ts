import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import pino, { type Logger, type TransportTargetOptions } from "pino";
import type { Config } from "../config.js";
import { activeTraceIds, tracingEnabled } from "./telemetry/telemetry.js";

// Never written to logs, wherever they appear in a logged object.
const REDACTED_PATHS = [
  "req.headers.authorization",
  "req.headers.cookie",
  "*.password",
  "*.current_password",
  "*.access_token",
  "*.refresh_token",
];

/**
 * The process logger: JSON lines on stdout (pretty when a person is watching), plus a
 * rotating file of 10 MB × 5 when LOG_FILE is set (LOG_FILE=logs/kaira.log writes
 * logs/kaira.1.log, kaira.2.log, … keeping the newest five, and links logs/current.log to
 * the active one). Transports run in a worker thread so
 * formatting and file I/O stay off the request path.
 */
export function createLogger(config: Pick<Config, "logLevel" | "logFile" | "logPretty">): Logger {
  const targets: TransportTargetOptions[] = [
    config.logPretty
      ? {
          target: "pino-pretty",
          level: config.logLevel,
          options: { destination: 1, translateTime: "SYS:HH:MM:ss.l" },
        }
      : { target: "pino/file", level: config.logLevel, options: { destination: 1 } },
  ];
  if (config.logFile) {
    mkdirSync(dirname(config.logFile), { recursive: true });
    targets.push({
      target: "pino-roll",
      level: config.logLevel,
      options: { file: config.logFile, size: "10m", limit: { count: 5 }, mkdir: true, symlink: true },
    });
  }
  return pino(
    {
      level: config.logLevel,
      redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
      timestamp: pino.stdTimeFunctions.isoTime,
      // With traces on, a line written inside a span names it (trace_id, span_id).
      ...(tracingEnabled() ? { mixin: () => activeTraceIds() ?? {} } : {}),
    },
    config.logLevel === "silent" ? undefined : pino.transport({ targets }),
  );
}

/** A logger that writes nothing: for an app built without one (tests, `kaira openapi`). */
export function silentLogger(): Logger {
  return pino({ enabled: false });
}
