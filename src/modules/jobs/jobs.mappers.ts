import type { JobInfo } from "../../platform/jobs/index.js";

export const toJobResponse = (job: JobInfo) => ({
  id: job.id,
  name: job.name,
  state: job.state,
  data: job.data,
  attempts_made: job.attemptsMade,
  max_attempts: job.maxAttempts,
  // The first line is the message; stack traces stay in the worker's log.
  error: job.error?.split("\n")[0] ?? null,
  created_at: job.createdAt.toISOString(),
  finished_at: job.finishedAt?.toISOString() ?? null,
});
