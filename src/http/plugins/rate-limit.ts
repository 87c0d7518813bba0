import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import type { Cache } from "../../platform/cache/index.js";
import type { Metrics } from "../../platform/metrics/metrics.js";
import { DomainError, retryAfter } from "../../shared/errors.js";
import { securityLogFor } from "../security-log.js";

export class RateLimitedError extends DomainError {
  constructor(retryAfterSeconds: number) {
    super(429, "rate_limited", `Too many requests; try again in ${retryAfterSeconds} s`, {
      headers: retryAfter(retryAfterSeconds),
    });
  }
}

/**
 * The global per-client limit: a fixed one-minute window per client address, counted in the
 * cache port (shared by every instance once Redis is configured). Health probes are exempt,
 * so a busy client never makes an orchestrator think the service is down.
 */
export const rateLimitPlugin = fp(
  async (app: FastifyInstance, options: { cache: Cache; perMinute: number; metrics: Metrics }) => {
    const { cache, perMinute, metrics } = options;
    if (perMinute === 0) return;
    app.addHook("onRequest", async (request, reply) => {
      if (request.url.startsWith("/health/")) return;
      const now = Date.now();
      const window = Math.floor(now / 60_000);
      let count: number;
      try {
        count = await cache.increment(`rl:${request.ip}:${window}`, 60_000);
      } catch (error) {
        // The limit protects the service; losing its counter store must not take the API down.
        request.log.warn(
          { err: error, event: "rate_limit.unavailable" },
          "rate limit skipped: cache unavailable",
        );
        return;
      }
      reply.header("x-ratelimit-limit", String(perMinute));
      reply.header("x-ratelimit-remaining", String(Math.max(0, perMinute - count)));
      if (count > perMinute) {
        // Stored once per client and window (the log still has every refusal): a flood of
        // refused requests must not become a flood of stored events.
        if (count === perMinute + 1) securityLogFor(request)({ event: "rate_limit.exceeded" });
        else request.log.warn({ event: "rate_limit.exceeded", ip: request.ip }, "rate limit exceeded");
        metrics.authThrottledRequests.inc({ limit: "rate_limit" });
        throw new RateLimitedError(Math.ceil(((window + 1) * 60_000 - now) / 1000));
      }
    });
  },
);
