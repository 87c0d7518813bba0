import { Type } from "typebox";
import { JOB_STATES } from "../../platform/jobs/index.js";

export const JobSchema = Type.Object(
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

export const JobListQuerySchema = Type.Object(
  {
    state: Type.Union(
      JOB_STATES.map((state) => Type.Literal(state)),
      { default: "failed" },
    ),
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 50 }),
  },
  { additionalProperties: false },
);

export const JobListSchema = Type.Object(
  {
    items: Type.Array(JobSchema),
    counts: Type.Record(Type.String(), Type.Integer()),
  },
  { title: "JobList" },
);

export const JobIdParamsSchema = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200 }) });

export const JobRetriedSchema = Type.Object(
  { id: Type.String(), state: Type.Literal("waiting") },
  { title: "JobRetried" },
);
