import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { count } from "drizzle-orm";
import { Type } from "typebox";
import { ProblemRef } from "../../http/openapi.js";
import type { Db } from "../../platform/database/index.js";
import { files, posts, users } from "../../platform/database/schema.js";
import type { JobQueue } from "../../platform/jobs/index.js";
import { withTimeout } from "../../shared/timeouts.js";
import { requireAuth } from "../auth/auth.plugin.js";

const OverviewSchema = Type.Object(
  {
    users: Type.Integer(),
    posts: Type.Integer(),
    files: Type.Integer(),
    jobs: Type.Object(
      {
        waiting: Type.Union([Type.Integer(), Type.Null()], { description: "Waiting or delayed" }),
        failed: Type.Union([Type.Integer(), Type.Null()]),
      },
      { description: "From the job queue; null when it did not answer within 5 s" },
    ),
    open_websockets: Type.Integer({ description: "Live sockets open on the instance that answered" }),
    requests_last_minute: Type.Integer({
      description: "Requests the answering instance served in the last 60 s",
    }),
    instance_started_at: Type.String({ format: "date-time" }),
  },
  { title: "AdminOverview" },
);

/** The numbers an admin's console opens with, read from the database, the queue and this instance. */
export const overviewRoutes: FastifyPluginAsyncTypebox<{ db: Db; jobs: JobQueue }> = async (
  app,
  { db, jobs },
) => {
  const startedAt = new Date().toISOString();
  const total = async (table: typeof users | typeof posts | typeof files) =>
    Number((await db.select({ n: count() }).from(table))[0]?.n ?? 0);

  app.get(
    "/admin/overview",
    {
      schema: {
        tags: ["admin"],
        operationId: "getAdminOverview",
        summary: "Users, posts, files, jobs, live sockets and request rate (admin)",
        description:
          "Counts from the database and the job queue; open WebSockets and requests in the last minute " +
          "are those of the instance that answers (GET /metrics has them per instance for Prometheus).",
        security: requireAuth("admin"),
        response: { 200: OverviewSchema, 503: ProblemRef },
      },
    },
    async () => {
      const [userCount, postCount, fileCount, jobCounts] = await Promise.all([
        total(users),
        total(posts),
        total(files),
        withTimeout(jobs.counts(), 5_000, () => new Error("job queue timed out")).catch(() => undefined),
      ]);
      return {
        users: userCount,
        posts: postCount,
        files: fileCount,
        jobs: jobCounts
          ? { waiting: (jobCounts.waiting ?? 0) + (jobCounts.delayed ?? 0), failed: jobCounts.failed ?? 0 }
          : { waiting: null, failed: null },
        open_websockets: app.websocketServer?.clients.size ?? 0,
        requests_last_minute: app.requestsLastMinute(),
        instance_started_at: startedAt,
      };
    },
  );
};
