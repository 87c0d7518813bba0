import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import type { Metrics } from "../platform/metrics/metrics.js";
import { UnauthorizedError } from "../shared/errors.js";
import { ProblemRef, problemCodes } from "./openapi.js";

const digest = (value: string) => createHash("sha256").update(value).digest();

/**
 * True when no token is configured, or the header carries it as a Bearer token. Compared as
 * digests in constant time, so the comparison says nothing about how much of a guess matched.
 */
export function metricsAuthorized(authorization: string | undefined, token: string | undefined): boolean {
  if (token === undefined) return true;
  const match = /^Bearer (.{1,512})$/i.exec(authorization ?? "");
  if (!match?.[1]) return false;
  return timingSafeEqual(digest(match[1]), digest(token));
}

/** GET /metrics on the API's own listener. */
export const metricsRoutes: FastifyPluginAsyncTypebox<{
  metrics: Metrics;
  token: string | undefined;
}> = async (app, { metrics, token }) => {
  app.get(
    "/metrics",
    {
      schema: {
        tags: ["service"],
        operationId: "getMetrics",
        summary: "Prometheus metrics",
        // Documentation only: the handler checks the token itself (the OAuth2 hook never sees
        // this route). Open when no METRICS_TOKEN is set, hence the empty alternative.
        security: [{ MetricsToken: [] }, {}],
        description:
          "The Prometheus text exposition of this instance's metrics. When the server sets " +
          "METRICS_TOKEN, send it as `Authorization: Bearer <token>`; without it the answer is 401. " +
          "In production the route exists only when a token is set.",
        response: {
          200: {
            description: "Prometheus text format 0.0.4",
            content: { "text/plain": { schema: Type.String() } },
          },
          400: ProblemRef,
          401: ProblemRef,
          429: ProblemRef,
        },
        ...problemCodes({ 401: ["invalid_metrics_token"] }),
      },
    },
    async (request, reply) => {
      if (!metricsAuthorized(request.headers.authorization, token)) {
        throw new UnauthorizedError("A valid metrics token is required", "invalid_metrics_token");
      }
      const body = await metrics.render();
      return reply.type(metrics.contentType).send(body);
    },
  );
};

/**
 * Serves GET /metrics alone on a listener of its own (METRICS_PORT, WORKER_METRICS_PORT), so
 * the port can stay inside the cluster while the API's port faces the internet. Plain
 * node:http: nothing else is served here, and the worker has no Fastify to reuse.
 */
export async function startMetricsServer(options: {
  host: string;
  port: number;
  metrics: Metrics;
  token: string | undefined;
  onError?: (error: unknown) => void;
}): Promise<{ port: number; close(): Promise<void> }> {
  const { metrics, token } = options;
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? "").split("?")[0];
    if (path !== "/metrics" || (request.method !== "GET" && request.method !== "HEAD")) {
      response.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("not found\n");
      return;
    }
    if (!metricsAuthorized(request.headers.authorization, token)) {
      response
        .writeHead(401, {
          "content-type": "text/plain; charset=utf-8",
          "www-authenticate": 'Bearer realm="kaira"',
        })
        .end("a valid metrics token is required\n");
      return;
    }
    metrics.render().then(
      (body) => response.writeHead(200, { "content-type": metrics.contentType }).end(body),
      (error: unknown) => {
        options.onError?.(error);
        response.writeHead(500, { "content-type": "text/plain; charset=utf-8" }).end("metrics unavailable\n");
      },
    );
  });
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  server.on("clientError", (_error, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  server.on("error", (error) => options.onError?.(error));
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : options.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
