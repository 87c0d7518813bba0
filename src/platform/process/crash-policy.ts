import type { Logger } from "pino";
import { reportError } from "../telemetry/telemetry.js";
import { currentRequestId } from "./request-scope.js";

export interface CrashPolicyOptions {
  logger: Logger;
  /** The process's graceful shutdown; it must end the process (with the exit code it is given). */
  shutdown: (reason: string, exitCode: number) => void | Promise<void>;
}

/**
 * The one policy for errors that escaped every handler (`uncaughtException`,
 * `unhandledRejection`): the process may be in a state nobody planned for, so it logs the error
 * at fatal — with the request it happened for, when known — and shuts down gracefully, exiting 1
 * for the supervisor to restart it. In-flight requests on a healthy path still finish; the
 * shutdown's own deadline bounds the wait. Returns a function that removes the listeners.
 */
export function installCrashPolicy({ logger, shutdown }: CrashPolicyOptions): () => void {
  let crashed = false;
  const onFatal = (event: "uncaughtException" | "unhandledRejection") => (reason: unknown) => {
    const requestId = currentRequestId();
    logger.fatal(
      {
        event: "process.crashed",
        origin: event,
        err: reason,
        ...(requestId ? { request_id: requestId } : {}),
      },
      "an error escaped every handler; shutting down",
    );
    logger.flush();
    reportError(reason, { origin: event, ...(requestId ? { requestId } : {}) });
    if (crashed) return;
    crashed = true;
    void Promise.resolve()
      .then(() => shutdown(event, 1))
      .catch((error: unknown) => {
        logger.fatal({ event: "process.shutdown_failed", err: error }, "shutdown failed; exiting");
        logger.flush();
        process.exit(1);
      });
  };
  const onException = onFatal("uncaughtException");
  const onRejection = onFatal("unhandledRejection");
  process.on("uncaughtException", onException);
  process.on("unhandledRejection", onRejection);
  return () => {
    process.off("uncaughtException", onException);
    process.off("unhandledRejection", onRejection);
  };
}
