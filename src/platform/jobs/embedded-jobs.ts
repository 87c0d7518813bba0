import { randomUUID } from "node:crypto";
import { and, asc, desc, eq, gt, lte, sql } from "drizzle-orm";
import { type Poller, startPoller } from "../../shared/poller.js";
import { settledWithin } from "../../shared/timeouts.js";
import type { Db } from "../database/index.js";
import { jobs } from "../database/schema.js";
import {
  dataWithTrace,
  type Executor,
  type JobInfo,
  type JobQueue,
  type JobRequest,
  type JobState,
  PermanentJobError,
  retryDelayMs,
  runJobTraced,
  scheduleSlot,
  type WorkOptions,
} from "./jobs.js";

export interface EmbeddedJobsOptions {
  /** Attempts before a job is kept as failed. */
  attempts: number;
  /** How long a claim lasts without renewal; a crashed worker's job is retried after it. */
  leaseMs: number;
  /** How often an idle worker looks for due jobs. */
  pollMs?: number;
  /** Completed jobs are deleted after this long; failed ones after `failedRetentionMs`. */
  completedRetentionMs?: number;
  failedRetentionMs?: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * The durable job runner inside the database: no extra service, and a job recorded in a
 * write's transaction is queued the moment that commits. Works on PGlite (one process) and
 * on PostgreSQL, where any number of workers share the queue through SKIP LOCKED.
 */
export function createEmbeddedJobQueue(db: Db, options: EmbeddedJobsOptions): JobQueue {
  const pollMs = options.pollMs ?? 250;
  const completedRetentionMs = options.completedRetentionMs ?? DAY_MS;
  const failedRetentionMs = options.failedRetentionMs ?? 30 * DAY_MS;
  let stopping = false;
  let poller: Poller | undefined;
  const running = new Set<Promise<void>>();
  // Lease renewals of running jobs; cleared when a closing worker gives up on them.
  const renewals = new Set<NodeJS.Timeout>();

  /** Claims the oldest due job, or one whose worker's lease ran out. */
  async function claim(): Promise<typeof jobs.$inferSelect | undefined> {
    const token = randomUUID();
    const rows = await db.execute<Record<string, unknown>>(sql`
      update ${jobs} set state = 'active', attempts_made = attempts_made + 1, lock_token = ${token},
        locked_until = now() + make_interval(secs => ${options.leaseMs / 1000})
      where id = (
        select id from ${jobs}
        where (state = 'waiting' and run_at <= now()) or (state = 'active' and locked_until < now())
        order by run_at, id
        limit 1
        for update skip locked
      )
      returning id`);
    const id = (rows as unknown as { rows: { id: number }[] }).rows[0]?.id;
    if (id === undefined) return undefined;
    const [job] = await db.select().from(jobs).where(eq(jobs.id, id));
    return job;
  }

  async function runOne(job: typeof jobs.$inferSelect, work: WorkOptions): Promise<void> {
    const owned = and(eq(jobs.id, job.id), eq(jobs.lockToken, job.lockToken as string));
    const started = performance.now();
    if (job.attemptsMade > job.maxAttempts) {
      // Retaken after its last attempt's worker died (the lease ran out): no attempts are left.
      const error = new Error("the worker running the last attempt stopped before finishing it");
      try {
        await db
          .update(jobs)
          .set({
            state: "failed",
            lastError: error.message,
            finishedAt: sql`now()`,
            lockToken: null,
            lockedUntil: null,
          })
          .where(owned);
        work.onEvent?.({
          type: "failed",
          jobId: String(job.id),
          attempt: job.attemptsMade,
          name: job.name,
          durationMs: 0,
          error,
          final: true,
        });
      } catch (failure) {
        work.onEvent?.({ type: "error", error: failure });
      }
      return;
    }
    // Long jobs keep their lease; a worker that dies stops renewing and the job is retaken.
    const renew = setInterval(() => {
      db.update(jobs)
        .set({ lockedUntil: sql`now() + make_interval(secs => ${options.leaseMs / 1000})` })
        .where(owned)
        .catch((error: unknown) => work.onEvent?.({ type: "error", error }));
    }, options.leaseMs / 3);
    renewals.add(renew);
    const context = { jobId: String(job.id), attempt: job.attemptsMade };
    let failure: { error: unknown } | undefined;
    try {
      const handler = work.handlers[job.name];
      if (!handler) throw new Error(`no handler for job "${job.name}"`);
      await runJobTraced(
        handler,
        { name: job.name, data: job.data as Record<string, unknown>, queue: "embedded" },
        context,
      );
    } catch (error) {
      failure = { error };
    } finally {
      clearInterval(renew);
      renewals.delete(renew);
    }
    const durationMs = performance.now() - started;
    // Recording the outcome can fail too (the database went away): report it, never throw —
    // the job's lease then lapses and it runs again.
    try {
      if (!failure) {
        await db
          .update(jobs)
          .set({ state: "completed", finishedAt: sql`now()`, lockToken: null, lockedUntil: null })
          .where(owned);
        work.onEvent?.({ type: "completed", ...context, name: job.name, durationMs });
        return;
      }
      const { error } = failure;
      const final = job.attemptsMade >= job.maxAttempts || error instanceof PermanentJobError;
      await db
        .update(jobs)
        .set({
          state: final ? "failed" : "waiting",
          lastError: error instanceof Error ? (error.stack ?? error.message) : String(error),
          lockToken: null,
          lockedUntil: null,
          ...(final
            ? { finishedAt: sql`now()` }
            : { runAt: sql`now() + make_interval(secs => ${retryDelayMs(job.attemptsMade) / 1000})` }),
        })
        .where(owned);
      work.onEvent?.({ type: "failed", ...context, name: job.name, durationMs, error, final });
    } catch (error) {
      work.onEvent?.({ type: "error", error });
    }
  }

  /** Inserts each schedule's job for the current period once, however many workers try. */
  async function enqueueSchedules(work: WorkOptions): Promise<void> {
    const now = Date.now();
    for (const schedule of work.schedules) {
      const slot = scheduleSlot(schedule, now);
      if (slot === undefined) continue;
      await db
        .insert(jobs)
        .values({
          name: schedule.name,
          data: {},
          maxAttempts: options.attempts,
          dedupeKey: `schedule:${schedule.name}:${slot}`,
        })
        .onConflictDoNothing();
    }
    await db.delete(jobs).where(
      sql`(${jobs.state} = 'completed' and ${jobs.finishedAt} < ${new Date(now - completedRetentionMs)})
          or (${jobs.state} = 'failed' and ${jobs.finishedAt} < ${new Date(now - failedRetentionMs)})`,
    );
  }

  /**
   * Polls for due jobs every `pollMs`, and at once when a running job finishes (a slot came
   * free) or a failed job is retried: keeps the schedules enqueued and claims jobs while
   * fewer than `concurrency` run.
   */
  function startWorking(work: WorkOptions): Poller {
    let nextScheduleCheck = 0;
    return startPoller({
      intervalMs: pollMs,
      immediate: true,
      onError: (error) => work.onEvent?.({ type: "error", error }),
      async step(stopped) {
        if (Date.now() >= nextScheduleCheck && work.schedules.length > 0) {
          await enqueueSchedules(work);
          // Cron schedules are minute-grained: looking every 15 s starts them within that of their time.
          nextScheduleCheck =
            Date.now() +
            Math.min(60_000, ...work.schedules.map((s) => ("everyMs" in s ? s.everyMs : 15_000)));
        }
        while (!stopped.aborted && running.size < work.concurrency) {
          const job = await claim();
          if (!job) break;
          const run = runOne(job, work).finally(() => {
            running.delete(run);
            poller?.wake();
          });
          running.add(run);
        }
      },
    });
  }

  function toInfo(row: typeof jobs.$inferSelect): JobInfo {
    const delayed = row.state === "waiting" && row.runAt.getTime() > Date.now();
    return {
      id: String(row.id),
      name: row.name,
      state: delayed ? "delayed" : (row.state as JobState),
      data: row.data,
      attemptsMade: row.attemptsMade,
      maxAttempts: row.maxAttempts,
      error: row.lastError,
      createdAt: row.createdAt,
      finishedAt: row.finishedAt,
    };
  }

  const stateFilter = (state: JobState) => {
    switch (state) {
      case "waiting":
        return and(eq(jobs.state, "waiting"), lte(jobs.runAt, sql`now()`));
      case "delayed":
        return and(eq(jobs.state, "waiting"), gt(jobs.runAt, sql`now()`));
      default:
        return eq(jobs.state, state);
    }
  };

  return {
    engine: "embedded",
    seesOtherProcessesWorkers: false,

    async record(executor: Executor, job: JobRequest) {
      await executor
        .insert(jobs)
        .values({ name: job.name, data: dataWithTrace(job.data), maxAttempts: options.attempts });
    },

    startRelay() {
      // Recording a job already queues it: the queue is the database.
    },

    work(work) {
      poller ??= startWorking(work);
    },

    async list(state, limit) {
      const finished = state === "completed" || state === "failed";
      const rows = await db
        .select()
        .from(jobs)
        .where(stateFilter(state))
        .orderBy(finished ? desc(jobs.finishedAt) : asc(jobs.runAt), desc(jobs.id))
        .limit(limit);
      return rows.map(toInfo);
    },

    async retry(id) {
      if (!/^\d+$/.test(id) || Number(id) > 2_147_483_647) return false;
      const updated = await db
        .update(jobs)
        .set({ state: "waiting", attemptsMade: 0, runAt: sql`now()`, finishedAt: null })
        .where(and(eq(jobs.id, Number(id)), eq(jobs.state, "failed")))
        .returning({ id: jobs.id });
      poller?.wake();
      return updated.length === 1;
    },

    async lastWorkerSeen() {
      return poller && !stopping ? new Date() : undefined;
    },

    async counts() {
      const rows = await db.execute<Record<string, unknown>>(sql`
        select case when state = 'waiting' and run_at > now() then 'delayed' else state end as state,
          count(*)::int as count
        from ${jobs} group by 1`);
      const counts: Record<JobState, number> = { waiting: 0, delayed: 0, active: 0, completed: 0, failed: 0 };
      for (const row of (rows as unknown as { rows: { state: JobState; count: number }[] }).rows)
        counts[row.state] = row.count;
      return counts;
    },

    async oldestWaitingAgeSeconds() {
      const rows = await db.execute<Record<string, unknown>>(sql`
        select coalesce(extract(epoch from now() - min(run_at)), 0)::float8 as age
        from ${jobs} where state = 'waiting' and run_at <= now()`);
      return Number((rows as unknown as { rows: { age: number | string }[] }).rows[0]?.age ?? 0);
    },

    async close(graceMs) {
      stopping = true;
      await poller?.stop();
      await settledWithin([...running], graceMs);
      // Jobs still running are abandoned: their leases lapse and another worker retakes them.
      for (const renew of renewals) clearInterval(renew);
      renewals.clear();
    },
  };
}
