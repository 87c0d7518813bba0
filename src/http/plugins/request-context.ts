import { randomUUID } from "node:crypto";
import type { FastifyInstance, FastifyRequest } from "fastify";
import fp from "fastify-plugin";
import type { Config } from "../../config.js";
import { runInRequestScope } from "../../platform/process/request-scope.js";
import { BadRequestError } from "../../shared/errors.js";
import type { HandlersInFlight } from "../handlers-in-flight.js";

// A client-supplied id is echoed only when it is short and plain, so it cannot inject
// anything into logs or headers.
const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function requestIdFrom(request: { headers: Record<string, string | string[] | undefined> }): string {
  const incoming = request.headers["x-request-id"];
  return typeof incoming === "string" && SANE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
}

function hostAllowed(hostname: string, trustedHosts: string[]): boolean {
  const host = hostname.toLowerCase();
  return trustedHosts.some((pattern) =>
    pattern === "*" ? true : pattern.startsWith("*.") ? host.endsWith(pattern.slice(1)) : host === pattern,
  );
}

/**
 * Per-request plumbing: the x-request-id header, trusted-host checking, baseline security
 * headers, `Cache-Control: no-store` on JSON answered to a request with credentials, and the
 * end of a request's count among those being handled (see handlers-in-flight.ts).
 */
export const requestContextPlugin = fp(
  async (app: FastifyInstance, options: { config: Config; handlers: HandlersInFlight }) => {
    const { trustedHosts } = options.config;
    const { handlers } = options;

    // Set once per request in onRequest (cheaper than an onSend hook); error responses keep
    // them too, since the error handler sends through the same reply.
    app.addHook("onRequest", (request: FastifyRequest, reply, done) => {
      reply.headers({
        "x-request-id": request.id,
        "x-content-type-options": "nosniff",
        "x-frame-options": "DENY",
        "referrer-policy": "no-referrer",
        "content-security-policy": "frame-ancestors 'none'",
      });
      // Everything after this hook runs in the request's scope, so a failure that escapes to the
      // process can still be logged with the request id.
      runInRequestScope(request.id, () => {
        if (trustedHosts.length > 0 && !hostAllowed(request.hostname, trustedHosts)) {
          return done(new BadRequestError("invalid_host", `Host ${request.hostname} is not allowed`));
        }
        done();
      });
    });

    // What a caller sees with their credentials is theirs alone: no shared or browser cache may
    // keep it. Byte downloads and token responses set their own policy, which is kept.
    app.addHook("onSend", (request, reply, payload, done) => {
      handlers.answered(request);
      if (
        request.headers.authorization !== undefined &&
        !reply.hasHeader("cache-control") &&
        /json/i.test(String(reply.getHeader("content-type") ?? ""))
      ) {
        reply.header("cache-control", "no-store");
      }
      done(null, payload);
    });
  },
);
