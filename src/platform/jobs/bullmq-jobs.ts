import type * as BullMQ from "bullmq";
import type { Job, JobsOptions, Queue, Worker } from "bullmq";
import { asc, inArray } from "drizzle-orm";
import type * as IORedis from "ioredis";
import type { Redis } from "ioredis";
import { type Poller, startPoller } from "../../shared/poller.js";
import { settledWithin, withTimeout } from "../../shared/timeouts.js";
import type { Db } from "../database/index.js";
import { jobOutbox } from "../database/schema.js";
import { loadDriver } from "../drivers.js";
import {
  dataWithTrace,
  type JobInfo,
  type JobQueue,
  type JobState,
  PermanentJobError,
  retryDelayMs,
  runJobTraced,
  WORKER_HEARTBEAT_MS,
  type WorkOptions,
} from "./jobs.js";

export interface BullmqJobsOptions {
  redisUrl: string;
  /** Redis key prefix; lets several deployments (or test runs) share one Redis. */
  prefix?: string;
  attempts: number;
  /** How long a worker's lock on a job lasts; a crashed worker's job is retried after it. */
  leaseMs: number;
  /** How often the relay looks for recorded jobs; nothing wakes it sooner. */
  relayPollMs?: number;
}

const QUEUE_NAME = "jobs";

/** A heartbeat older than this is forgotten (Redis expires the key). */
const HEARTBEAT_TTL_MS = 10 * 60 * 1000;

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * The distributed adapter: BullMQ on Redis, with any number of `kaira worker` processes.
 * Jobs are recorded in the database's job outbox inside the write's transaction; the relay
 * moves them to BullMQ after commit under a job id derived from the outbox row, so moving
 * the same row twice (a relay that died before deleting it) adds the job only once.
 */
export function createBullmqJobQueue(db: Db, options: BullmqJobsOptions): JobQueue {
  const { Queue, UnrecoverableError, Worker } = loadDriver<typeof BullMQ>("bullmq");
  const { Redis } = loadDriver<typeof IORedis>("ioredis");
  const prefix = options.prefix ?? "kaira:bull";
  const connections: Redis[] = [];
  const connect = (purpose: "producer" | "worker" | "control") => {
    // A worker's blocking commands need maxRetriesPerRequest null (it waits out outages);
    // the producer side fails fast instead, so requests and the relay never hang on Redis.
    // Control commands (the heartbeat) may wait for the first connect, but only 2 s each.
    const redis = new Redis(
      options.redisUrl,
      purpose === "worker"
        ? { maxRetriesPerRequest: null, connectTimeout: 5_000 }
        : purpose === "control"
          ? { maxRetriesPerRequest: 1, connectTimeout: 5_000, commandTimeout: 2_000 }
          : { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 5_000 },
    );
    redis.on("error", () => {});
    connections.push(redis);
    return redis;
  };
  let queue: Queue | undefined;
  const getQueue = () => {
    if (!queue) {
      queue = new Queue(QUEUE_NAME, { connection: connect("producer"), prefix });
      queue.on("error", () => {}); // surfaced by the calls that fail
    }
    return queue;
  };
  const jobOptions: JobsOptions = {
    attempts: options.attempts,
    backoff: { type: "kaira" },
    removeOnComplete: { age: DAY_MS / 1000, count: 10_000 },
    removeOnFail: { age: (30 * DAY_MS) / 1000 },
  };
  let worker: Worker | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  // Small commands of our own (the heartbeat) on a fail-fast connection, opened when needed.
  let control: Redis | undefined;
  const controlConnection = () => {
    control ??= connect("control");
    return control;
  };
  const heartbeatKey = `${prefix}:${QUEUE_NAME}:worker-seen`;
  let relay: Poller | undefined;
  let closing: Promise<void> | undefined;
  const running = new Set<Promise<void>>();

  /**
   * Moves up to 100 recorded jobs to BullMQ and then deletes their rows. No transaction is
   * held while Redis is called (on the embedded database that would stall every query).
   * Two relays may pick the same rows; the job id derived from the row makes the second add
   * a no-op, so each recorded job is queued once.
   */
  async function relayBatch(): Promise<number> {
    const rows = await db.select().from(jobOutbox).orderBy(asc(jobOutbox.id)).limit(100);
    if (rows.length === 0) return 0;
    const queue = getQueue();
    await withTimeout(
      queue.addBulk(
        rows.map((row) => ({
          name: row.name,
          data: row.data,
          opts: { ...jobOptions, jobId: `outbox-${row.id}-${row.createdAt.getTime()}` },
        })),
      ),
      5_000,
      () => new Error("Redis did not accept the jobs in time"),
    );
    await db.delete(jobOutbox).where(
      inArray(
        jobOutbox.id,
        rows.map((row) => row.id),
      ),
    );
    return rows.length;
  }

  const stateOf = async (job: Job): Promise<JobState> => {
    const state = await job.getState();
    return (["waiting", "delayed", "active", "completed", "failed"] as const).includes(state as JobState)
      ? (state as JobState)
      : "waiting";
  };

  const toInfo = async (job: Job): Promise<JobInfo> => ({
    id: String(job.id),
    name: job.name,
    state: await stateOf(job),
    data: job.data,
    attemptsMade: job.attemptsMade,
    maxAttempts: job.opts.attempts ?? 1,
    error: job.failedReason ?? null,
    createdAt: new Date(job.timestamp),
    finishedAt: job.finishedOn ? new Date(job.finishedOn) : null,
  });

  const adapter: JobQueue = {
    engine: "bullmq",
    seesOtherProcessesWorkers: true,

    async record(executor, job) {
      await executor.insert(jobOutbox).values({ name: job.name, data: dataWithTrace(job.data) });
    },

    startRelay(onError) {
      if (relay || closing) return;
      relay = startPoller({
        intervalMs: options.relayPollMs ?? 200,
        onError,
        async step(stopping) {
          while (!stopping.aborted && (await relayBatch()) === 100) {}
        },
      });
    },

    work(work: WorkOptions) {
      if (worker) return;
      // API instances read this key to tell whether any worker is running (see lastWorkerSeen).
      const beat = () => {
        controlConnection()
          .set(heartbeatKey, String(Date.now()), "PX", HEARTBEAT_TTL_MS)
          .catch(() => {}); // Redis down: the next beat tries again
      };
      // On every (re)connect at once, then on a timer: a worker is seen as soon as Redis is.
      controlConnection().on("ready", beat);
      beat();
      heartbeat = setInterval(beat, WORKER_HEARTBEAT_MS);
      heartbeat.unref();
      const started = new Map<string, number>();
      worker = new Worker(
        QUEUE_NAME,
        async (job) => {
          const handler = work.handlers[job.name];
          if (!handler) throw new Error(`no handler for job "${job.name}"`);
          started.set(String(job.id), performance.now());
          const run = runJobTraced(
            handler,
            { name: job.name, data: job.data, queue: "bullmq" },
            { jobId: String(job.id), attempt: job.attemptsMade + 1 },
          );
          running.add(run);
          try {
            await run;
          } catch (error) {
            // BullMQ's own marker for "do not retry".
            if (error instanceof PermanentJobError) throw new UnrecoverableError(error.message);
            throw error;
          } finally {
            running.delete(run);
          }
        },
        {
          connection: connect("worker"),
          prefix,
          concurrency: work.concurrency,
          lockDuration: options.leaseMs,
          stalledInterval: options.leaseMs,
          maxStalledCount: 2,
          settings: { backoffStrategy: (attemptsMade: number) => retryDelayMs(attemptsMade) },
        },
      );
      const durationOf = (job: Job) => {
        const start = started.get(String(job.id));
        started.delete(String(job.id));
        return start === undefined ? 0 : performance.now() - start;
      };
      worker.on("completed", (job) =>
        work.onEvent?.({
          type: "completed",
          jobId: String(job.id),
          name: job.name,
          attempt: job.attemptsMade,
          durationMs: durationOf(job),
        }),
      );
      worker.on("failed", (job, error) => {
        if (!job) return;
        work.onEvent?.({
          type: "failed",
          jobId: String(job.id),
          name: job.name,
          attempt: job.attemptsMade,
          durationMs: durationOf(job),
          error,
          final: job.attemptsMade >= (job.opts.attempts ?? 1) || error instanceof UnrecoverableError,
        });
      });
      worker.on("stalled", (jobId) => work.onEvent?.({ type: "stalled", jobId: String(jobId) }));
      worker.on("error", (error) => work.onEvent?.({ type: "error", error }));
      const queue = getQueue();
      for (const schedule of work.schedules) {
        queue
          .upsertJobScheduler(
            schedule.name,
            "everyMs" in schedule ? { every: schedule.everyMs } : { pattern: schedule.cron, tz: "UTC" },
            {
              name: schedule.name,
              data: {},
              opts: {
                attempts: options.attempts,
                backoff: { type: "kaira" },
                removeOnComplete: jobOptions.removeOnComplete,
                removeOnFail: jobOptions.removeOnFail,
              },
            },
          )
          .catch((error: unknown) => work.onEvent?.({ type: "error", error }));
      }
    },

    async list(state, limit) {
      const jobs = await getQueue().getJobs([state], 0, limit - 1, false);
      return Promise.all(jobs.filter((job): job is Job => Boolean(job)).map(toInfo));
    },

    async retry(id) {
      const job = await getQueue().getJob(id);
      if (!job || !(await job.isFailed())) return false;
      await job.retry("failed");
      return true;
    },

    async lastWorkerSeen() {
      const seen = await controlConnection().get(heartbeatKey);
      return seen ? new Date(Number(seen)) : undefined;
    },

    async counts() {
      const counts = await getQueue().getJobCounts("waiting", "delayed", "active", "completed", "failed");
      return {
        waiting: counts.waiting ?? 0,
        delayed: counts.delayed ?? 0,
        active: counts.active ?? 0,
        completed: counts.completed ?? 0,
        failed: counts.failed ?? 0,
      };
    },

    async oldestWaitingAgeSeconds() {
      // Workers take from the far end of the wait list: ascending order starts with the next job.
      const [oldest] = await getQueue().getJobs(["waiting"], 0, 0, true);
      if (!oldest) return 0;
      // A retried or delayed job has waited since it became due, not since it was created.
      const dueSince = oldest.timestamp + (oldest.delay ?? 0);
      return Math.max(0, (Date.now() - dueSince) / 1000);
    },

    close(graceMs) {
      closing ??= closeQueue(graceMs);
      return closing;
    },
  };
  return adapter;

  async function closeQueue(graceMs: number): Promise<void> {
    clearInterval(heartbeat);
    await relay?.stop();
    // With Redis unreachable nothing can be recorded there: BullMQ's graceful steps would
    // only wait out their timeouts (and keep reconnecting after them), so they are skipped.
    const redisUp = () => connections.every((redis) => redis.status === "ready");
    if (worker) {
      if (redisUp()) {
        // Stop fetching, give running jobs the grace period, then close without waiting
        // further: a job cut off stalls and another worker runs it again once its lock lapses.
        // Every step is bounded: Redis may go away while we wait.
        await withTimeout(worker.pause(true), 2_000, () => new Error("pause timed out")).catch(() => {});
        const finished = await settledWithin([...running], graceMs);
        // Finished jobs still need their completion recorded, which a graceful close waits for.
        await withTimeout(worker.close(!finished), 5_000, () => new Error("close timed out")).catch(() => {});
      } else {
        await settledWithin([...running], graceMs);
        await withTimeout(worker.close(true), 1_000, () => new Error("close timed out")).catch(() => {});
      }
      // BullMQ's own connections (the blocking one it duplicated) stop reconnecting.
      await withTimeout(worker.disconnect(), 1_000, () => new Error("disconnect timed out")).catch(() => {});
    }
    if (queue) {
      if (redisUp())
        await withTimeout(queue.close(), 2_000, () => new Error("close timed out")).catch(() => {});
      await withTimeout(queue.disconnect(), 1_000, () => new Error("disconnect timed out")).catch(() => {});
    }
    for (const redis of connections) redis.disconnect();
  }
}
