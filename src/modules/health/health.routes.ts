import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { withTimeout } from "../../shared/timeouts.js";

const CheckSchema = Type.Object({
  status: Type.Union([Type.Literal("pass"), Type.Literal("fail")]),
  latency_ms: Type.Optional(Type.Number()),
  error: Type.Optional(Type.String()),
});

const ReadinessSchema = Type.Object(
  {
    status: Type.Union([Type.Literal("pass"), Type.Literal("fail")]),
    draining: Type.Boolean(),
    checks: Type.Record(Type.String(), CheckSchema),
  },
  { title: "Readiness" },
);

/** A dependency readiness asks about: the database now, Redis once it is configured. */
export interface ReadinessCheck {
  name: string;
  check(): Promise<void>;
}

const CHECK_TIMEOUT_MS = 2_000;

async function runCheck({ check }: ReadinessCheck) {
  const started = performance.now();
  try {
    await withTimeout(check(), CHECK_TIMEOUT_MS, () => new Error("timed out"));
    return { status: "pass" as const, latency_ms: Math.round((performance.now() - started) * 100) / 100 };
  } catch (error) {
    // Only the kind of failure: readiness is public and must not leak connection details.
    const message = error instanceof Error && error.message === "timed out" ? "timed out" : "unavailable";
    return { status: "fail" as const, error: message };
  }
}

export const healthRoutes: FastifyPluginAsyncTypebox<{
  checks: ReadinessCheck[];
  isDraining: () => boolean;
}> = async (app, { checks, isDraining }) => {
  app.get(
    "/health/live",
    {
      schema: {
        tags: ["service"],
        summary: "Liveness: the process runs",
        response: { 200: Type.Object({ status: Type.Literal("ok") }) },
      },
    },
    async () => ({ status: "ok" as const }),
  );

  app.get(
    "/health/ready",
    {
      schema: {
        tags: ["service"],
        summary: "Readiness: dependencies answer and the process is not shutting down",
        response: { 200: ReadinessSchema, 503: ReadinessSchema },
      },
    },
    async (_request, reply) => {
      const results = await Promise.all(checks.map(async (c) => [c.name, await runCheck(c)] as const));
      const draining = isDraining();
      const healthy = !draining && results.every(([, result]) => result.status === "pass");
      reply.header("cache-control", "no-store");
      return reply.code(healthy ? 200 : 503).send({
        status: healthy ? "pass" : "fail",
        draining,
        checks: Object.fromEntries(results),
      });
    },
  );
};
