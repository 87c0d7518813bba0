import type { FastifyInstance } from "fastify";
import type { JobHandler, JobSchedule } from "./platform/jobs/index.js";
import { startJobProcessing } from "./platform/jobs/processing.js";
import type { OpenedPlatform } from "./platform/platform.js";
import { settledWithin } from "./shared/timeouts.js";

export interface LifecycleParts {
  platform: OpenedPlatform;
  /** Pub/sub subscriptions (live events, session revocations); each resolves to its unsubscribe. */
  subscriptions: (() => Promise<() => Promise<void>>)[];
  /** Publishes committed outbox events to every instance. */
  outboxRelay: { start(): void; stop(): Promise<void> };
  /** Run once everything else has started (the admin bootstrap). */
  startupTasks: (() => Promise<void>)[];
  /** Every module's jobs, run here when jobs run in-process (the embedded default). */
  work: { handlers: Record<string, JobHandler>; schedules: JobSchedule[] };
  /** Watches that a `kaira worker` runs, when the API leaves its jobs to workers. */
  workerPresence?: { start(): void; stop(): void } | undefined;
}

/**
 * Starts and stops what runs beside the requests, in this order.
 *
 * Ready: (1) subscribe to live events and session revocations, waiting at most 2 s; (2) start
 * the outbox relay, so nothing it publishes goes out before this instance listens; (3) run the
 * start-up tasks (admin bootstrap); (4) start relaying recorded jobs to the queue and, when
 * jobs run in-process, processing them; (5) start watching for workers.
 *
 * Close (after the server stopped taking requests and WebSockets were told "going away"):
 * (1) stop the outbox relay; (2) unsubscribe; (3) stop watching for workers; (4) close the job
 * queue, giving in-process jobs their grace within the shutdown deadline; (5) close mail,
 * pub/sub and the cache (those this app opened). The database is closed by the caller last,
 * since every step before may still use it.
 */
export function manageLifecycle(app: FastifyInstance, parts: LifecycleParts): void {
  const { config, logger, jobs } = parts.platform.platform;
  const unsubscribers: (() => Promise<void>)[] = [];

  app.addHook("onReady", async () => {
    // Wait briefly for the subscriptions; with Redis down, start anyway — ioredis subscribes
    // once it connects, and the API serves everything but live fan-out meanwhile (sockets
    // are still re-checked on every heartbeat).
    const subscribed = parts.subscriptions.map((subscribe) =>
      subscribe().then((off) => {
        unsubscribers.push(off);
      }),
    );
    for (const subscription of subscribed) {
      subscription.catch((error: unknown) =>
        logger.warn({ err: error, event: "pubsub.subscribe_failed" }, "live events unavailable"),
      );
    }
    await settledWithin(subscribed, 2_000);
    parts.outboxRelay.start();

    for (const task of parts.startupTasks) await task();

    jobs.startRelay((error) =>
      logger.warn({ err: error, event: "jobs.relay_failed" }, "job relay failed; will retry"),
    );
    // The embedded default runs its jobs here; with workers (`kaira worker`) the API only records them.
    if (config.jobs.inProcess) {
      startJobProcessing(jobs, {
        ...parts.work,
        logger,
        concurrency: config.jobs.concurrency,
        metrics: parts.platform.platform.metrics,
      });
    }
    parts.workerPresence?.start();
  });

  app.addHook("onClose", async () => {
    await parts.outboxRelay.stop();
    // The connection may already be gone.
    await Promise.all(unsubscribers.map((off) => off().catch(() => {})));
    parts.workerPresence?.stop();
    // In-process jobs get their grace within the API's own shutdown deadline.
    const graceSeconds = Math.min(
      config.jobs.shutdownSeconds,
      Math.max(1, config.shutdownTimeoutSeconds - 5),
    );
    await parts.platform.close(graceSeconds * 1000);
  });
}
