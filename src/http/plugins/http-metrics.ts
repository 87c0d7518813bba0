import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import type { Metrics } from "../../platform/metrics/metrics.js";

const KNOWN_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

/**
 * Request duration by method, route template and status class, and requests in flight.
 * The route is the template Fastify matched (`/api/v1/posts/:id`), never the URL, and
 * requests that matched no route share one label: clients cannot create series.
 * WebSocket upgrades are left out (a connection's lifetime is not a request's latency);
 * open sockets have a gauge of their own.
 */
export const httpMetricsPlugin = fp(async (app: FastifyInstance, options: { metrics: Metrics }) => {
  const { metrics } = options;
  app.addHook("onRequest", (request, reply, done) => {
    if (request.headers.upgrade === undefined) {
      metrics.httpRequestsInFlight.inc();
      // 'close' fires once whether the response finished or the client went away.
      reply.raw.once("close", () => metrics.httpRequestsInFlight.dec());
    }
    done();
  });
  app.addHook("onResponse", (request, reply, done) => {
    if (request.headers.upgrade === undefined) {
      metrics.httpRequestDuration.observe(
        {
          method: KNOWN_METHODS.has(request.method) ? request.method : "OTHER",
          route: request.routeOptions.url ?? "unmatched",
          status_class: `${Math.floor(reply.statusCode / 100)}xx`,
        },
        reply.elapsedTime / 1000,
      );
    }
    done();
  });
});
