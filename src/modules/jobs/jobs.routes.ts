import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { ProblemRef, problemCodes } from "../../http/openapi.js";
import { securityLogFor } from "../../http/security-log.js";
import type { JobQueue } from "../../platform/jobs/index.js";
import { NotFoundError, ServiceUnavailableError } from "../../shared/errors.js";
import { withTimeout } from "../../shared/timeouts.js";
import { principalOf, requireAuth } from "../auth/auth.plugin.js";
import { toJobResponse } from "./jobs.mappers.js";
import { JobIdParamsSchema, JobListQuerySchema, JobListSchema, JobRetriedSchema } from "./jobs.schemas.js";

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
        operationId: "listJobs",
        summary: "Background jobs in one state (admin)",
        description:
          "Failed jobs are kept (30 days) after their last attempt so an admin can inspect and retry them; completed jobs are kept 24 hours. `counts` gives the number of jobs in every state.",
        security: requireAuth("admin"),
        querystring: JobListQuerySchema,
        response: { 200: JobListSchema, 422: ProblemRef, 503: ProblemRef },
        ...problemCodes({ 503: ["queue_unavailable"] }),
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
        operationId: "retryJob",
        summary: "Run a failed job again (admin)",
        description:
          "The job goes back to the queue with a fresh set of attempts. Only failed jobs can be retried.",
        security: requireAuth("admin"),
        params: JobIdParamsSchema,
        response: { 202: JobRetriedSchema, 404: ProblemRef, 422: ProblemRef, 503: ProblemRef },
        ...problemCodes({ 404: ["job_not_found"], 503: ["queue_unavailable"] }),
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      if (!(await fromQueue(jobs.retry(id)))) throw new NotFoundError(`No failed job ${id}`, "job_not_found");
      securityLogFor(request)({
        event: "job.retried_by_admin",
        job_id: id,
        actor_id: principalOf(request).userId,
      });
      return reply.code(202).send({ id, state: "waiting" as const });
    },
  );
};
