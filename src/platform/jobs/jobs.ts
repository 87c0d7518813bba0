import { CronExpressionParser } from "cron-parser";
import type { Executor } from "../database/index.js";
import { currentTraceparent, inSpan } from "../telemetry/telemetry.js";

export type { Executor } from "../database/index.js";

/** A job to run in the background. `data` must be JSON. */
export interface JobRequest {
  name: string;
  data: Record<string, unknown>;
}

export interface JobContext {
  /** The queue's id for this job; stable across its attempts. */
  jobId: string;
  /** 1 on the first attempt. Handlers must be idempotent: delivery is at-least-once. */
  attempt: number;
}

/**
 * Thrown by a handler when trying again cannot help (a corrupt input, say): the job is kept
 * as failed at once instead of being retried with back-off.
 */
export class PermanentJobError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "PermanentJobError";
  }
}

export type JobHandler = (data: Record<string, unknown>, context: JobContext) => Promise<void>;

/** A job that is enqueued on a timer rather than by a write: every `everyMs`, or at the times of a cron expression (UTC). */
export type JobSchedule = { name: string; everyMs: number } | { name: string; cron: string };

/** A cron schedule's run is still enqueued if the scheduler first looks within this long of its time. */
export const CRON_CATCH_UP_MS = 10 * 60 * 1000;

/**
 * The period a schedule is in at `now`, as a stable key (so each period's job is enqueued
 * once however many processes look), or undefined when a cron schedule has no run due.
 */
export function scheduleSlot(schedule: JobSchedule, now: number): string | undefined {
  if ("everyMs" in schedule) return String(Math.floor(now / schedule.everyMs));
  const previous = CronExpressionParser.parse(schedule.cron, { tz: "UTC", currentDate: new Date(now) })
    .prev()
    .getTime();
  return now - previous <= CRON_CATCH_UP_MS ? new Date(previous).toISOString() : undefined;
}

export const JOB_STATES = ["waiting", "delayed", "active", "completed", "failed"] as const;
export type JobState = (typeof JOB_STATES)[number];

/** What admins see of a job. */
export interface JobInfo {
  id: string;
  name: string;
  state: JobState;
  data: unknown;
  attemptsMade: number;
  maxAttempts: number;
  error: string | null;
  createdAt: Date;
  finishedAt: Date | null;
}

export interface WorkOptions {
  handlers: Record<string, JobHandler>;
  schedules: JobSchedule[];
  /** Jobs run at the same time in this process. */
  concurrency: number;
  onEvent?: (event: JobEvent) => void;
}

/** What a worker reports; the seam for logs and metrics (durations, failures). */
export type JobEvent =
  | { type: "completed"; jobId: string; name: string; attempt: number; durationMs: number }
  | {
      type: "failed";
      jobId: string;
      name: string;
      attempt: number;
      durationMs: number;
      error: unknown;
      final: boolean;
    }
  /** A job whose worker stopped renewing its lock (crashed or blocked) goes back to the queue. */
  | { type: "stalled"; jobId: string }
  | { type: "error"; error: unknown };

/** Records a job inside a transaction: what repositories are given of the job queue. */
export type RecordJob = (executor: Executor, job: JobRequest) => Promise<void>;

/**
 * The job queue port. The embedded adapter keeps jobs in the database itself (durable, no
 * extra service); the BullMQ adapter keeps them in Redis and records them in the database
 * first (a job outbox), relaying them after commit. Either way a job recorded in a
 * transaction exists exactly when that transaction commits.
 */
export interface JobQueue {
  /** Where jobs wait ("embedded": in the database): for logs, not for branching. */
  readonly engine: "embedded" | "bullmq";
  /**
   * True when `lastWorkerSeen` hears workers in other processes (BullMQ, through Redis); the
   * embedded queue knows only this process, so nothing can tell whether another one runs.
   */
  readonly seesOtherProcessesWorkers: boolean;
  /** Records a job inside the caller's transaction (or on its own when given the database). */
  record(executor: Executor, job: JobRequest): Promise<void>;
  /** Starts moving recorded jobs to the queue (a no-op where recording already enqueues). */
  startRelay(onError: (error: unknown) => void): void;
  /** Starts processing jobs in this process and keeps the schedules enqueued. */
  work(options: WorkOptions): void;
  list(state: JobState, limit: number): Promise<JobInfo[]>;
  /** Puts a failed job back in the queue; false when no failed job has this id. */
  retry(id: string): Promise<boolean>;
  /**
   * When a process working this queue last said so (workers report every
   * WORKER_HEARTBEAT_MS). BullMQ: any worker anywhere, through Redis. Embedded: only this
   * process is known. Undefined when none was seen.
   */
  lastWorkerSeen(): Promise<Date | undefined>;
  /** How many jobs are in each state: the seam for queue-depth metrics. */
  counts(): Promise<Record<JobState, number>>;
  /** Seconds the oldest job due to run has waited for a worker; 0 when none waits. */
  oldestWaitingAgeSeconds(): Promise<number>;
  /**
   * Stops taking jobs, waits up to `graceMs` for running ones, then stops. A job cut off
   * is not lost: its lease expires and it runs again (at-least-once).
   */
  close(graceMs: number): Promise<void>;
}

/** How often a process working the queue reports that it runs (its heartbeat). */
export const WORKER_HEARTBEAT_MS = 10_000;

/**
 * Where a job's data carries the W3C traceparent of the request (or job) that recorded it,
 * when traces are on: the run of the job, in whichever process, joins that trace.
 */
const TRACEPARENT_KEY = "traceparent";

/** The data to store for a job: with the active trace's traceparent, when there is one. */
export function dataWithTrace(data: Record<string, unknown>): Record<string, unknown> {
  const traceparent = currentTraceparent();
  return traceparent === undefined ? data : { ...data, [TRACEPARENT_KEY]: traceparent };
}

/**
 * Runs a job's handler in a span that continues the trace it was recorded in; the handler
 * sees its data without the traceparent.
 */
export function runJobTraced(
  handler: JobHandler,
  job: { name: string; data: Record<string, unknown>; queue: JobQueue["engine"] },
  context: JobContext,
): Promise<void> {
  const { [TRACEPARENT_KEY]: traceparent, ...data } = job.data;
  return inSpan(
    `process ${job.name}`,
    {
      kind: "consumer",
      parent: typeof traceparent === "string" ? traceparent : undefined,
      attributes: {
        "messaging.system": job.queue === "bullmq" ? "bullmq" : "kaira",
        "messaging.operation.type": "process",
        "messaging.destination.name": job.name,
        "messaging.message.id": context.jobId,
        "kaira.job.attempt": context.attempt,
      },
    },
    () => handler(data, context),
  );
}

/** Exponential back-off with jitter after failed attempt `attempt` (1-based): ~1 s, 2 s, 4 s… capped at 5 min. */
export function retryDelayMs(attempt: number): number {
  const base = Math.min(1000 * 2 ** (attempt - 1), 5 * 60 * 1000);
  return Math.round(base * (0.75 + Math.random() * 0.5));
}
