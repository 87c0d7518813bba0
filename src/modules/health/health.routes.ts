import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { ProblemRef } from "../../http/openapi.js";
import { withTimeout } from "../../shared/timeouts.js";
import { LivenessSchema, ReadinessSchema } from "./health.schemas.js";

/** Something readiness reports without failing on it, e.g. no worker taking jobs. */
export interface ReadinessWarning {
  name: string;
  /** The warning's text, or undefined when all is well. */
  current(): string | undefined;
}

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
  warnings?: ReadinessWarning[];
  isDraining: () => boolean;
}> = async (app, { checks, warnings = [], isDraining }) => {
  app.get(
    "/health/live",
    {
      schema: {
        tags: ["service"],
        operationId: "getLiveness",
        summary: "Liveness: the process runs",
        security: [],
        // 400 invalid_host: a Host outside TRUSTED_HOSTS, refused before any route runs.
        response: { 200: LivenessSchema, 400: ProblemRef },
      },
    },
    async () => ({ status: "ok" as const }),
  );

  app.get(
    "/health/ready",
    {
      schema: {
        tags: ["service"],
        operationId: "getReadiness",
        summary: "Readiness: dependencies answer and the process is not shutting down",
        security: [],
        response: { 200: ReadinessSchema, 400: ProblemRef, 503: ReadinessSchema },
      },
    },
    async (_request, reply) => {
      const results = await Promise.all(checks.map(async (c) => [c.name, await runCheck(c)] as const));
      const draining = isDraining();
      const healthy = !draining && results.every(([, result]) => result.status === "pass");
      const warned = warnings.map((w) => [w.name, w.current()] as const);
      reply.header("cache-control", "no-store");
      return reply.code(healthy ? 200 : 503).send({
        status: healthy ? "pass" : "fail",
        draining,
        checks: {
          ...Object.fromEntries(results),
          ...Object.fromEntries(
            warned.map(([name, message]) => [
              name,
              message === undefined ? { status: "pass" as const } : { status: "warn" as const, message },
            ]),
          ),
        },
      });
    },
  );
};
