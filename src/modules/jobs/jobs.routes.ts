import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { ProblemRef } from "../../http/openapi.js";
import { principalOf, requireAuth } from "../../http/plugins/authentication.js";
import { JOB_STATES, type JobInfo, type JobQueue } from "../../platform/jobs/index.js";
import { NotFoundError, ServiceUnavailableError } from "../../shared/errors.js";
import { withTimeout } from "../../shared/timeouts.js";

const JobSchema = Type.Object(
  {
    id: Type.String({ description: "The queue's id for the job (a string: BullMQ ids are not numbers)" }),
    name: Type.String(),
    state: Type.Union(JOB_STATES.map((state) => Type.Literal(state))),
    data: Type.Unknown(),
    attempts_made: Type.Integer(),
    max_attempts: Type.Integer(),
    error: Type.Union([Type.String(), Type.Null()], { description: "The last failure's message" }),
    created_at: Type.String({ format: "date-time" }),
    finished_at: Type.Union([Type.String({ format: "date-time" }), Type.Null()]),
  },
  { title: "Job" },
);

const toJobResponse = (job: JobInfo) => ({
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

/** The queue may live in Redis: an outage is a 503 for the admin, not a hung request. */
async function fromQueue<T>(operation: Promise<T>): Promise<T> {
  try {
    return await withTimeout(operation, 5_000, () => new Error("timed out"));
  } catch {
    throw new ServiceUnavailableError("The job queue did not answer", "queue_unavailable");
  }
}

export const jobsRoutes: FastifyPluginAsyncTypebox<{ jobs: JobQueue }> = async (app, { jobs }) => {
  app.get(
    "/admin/jobs",
    {
      schema: {
        tags: ["admin"],
        summary: "Background jobs in one state (admin)",
        description:
          "Failed jobs are kept (30 days) after their last attempt so an admin can inspect and retry them; completed jobs are kept 24 hours. `counts` gives the number of jobs in every state.",
        security: requireAuth("admin"),
        querystring: Type.Object(
          {
            state: Type.Union(
              JOB_STATES.map((state) => Type.Literal(state)),
              { default: "failed" },
            ),
            limit: Type.Integer({ minimum: 1, maximum: 100, default: 50 }),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object(
            {
              items: Type.Array(JobSchema),
              counts: Type.Record(Type.String(), Type.Integer()),
            },
            { title: "JobList" },
          ),
          422: ProblemRef,
          503: ProblemRef,
        },
      },
    },
    async (request) => {
      const [items, counts] = await fromQueue(
        Promise.all([jobs.list(request.query.state, request.query.limit), jobs.counts()]),
      );
      return { items: items.map(toJobResponse), counts };
    },
  );

  app.post(
    "/admin/jobs/:id/retry",
    {
      schema: {
        tags: ["admin"],
        summary: "Run a failed job again (admin)",
        description:
          "The job goes back to the queue with a fresh set of attempts. Only failed jobs can be retried.",
        security: requireAuth("admin"),
        params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 200 }) }),
        response: {
          202: Type.Object({ id: Type.String(), state: Type.Literal("waiting") }, { title: "JobRetried" }),
          404: ProblemRef,
          422: ProblemRef,
          503: ProblemRef,
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      if (!(await fromQueue(jobs.retry(id)))) throw new NotFoundError(`No failed job ${id}`, "job_not_found");
      request.log.info(
        { event: "job.retried_by_admin", job_id: id, actor_id: principalOf(request).userId },
        "job retried",
      );
      return reply.code(202).send({ id, state: "waiting" as const });
    },
  );
};
