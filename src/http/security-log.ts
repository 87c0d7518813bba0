import type { FastifyRequest } from "fastify";
import type { Metrics } from "../platform/metrics/metrics.js";

/** A security event: what happened (`event`) and to whom, never a password or a token. */
export type SecurityEvent = { event: string; [field: string]: unknown };
export type SecurityLog = (event: SecurityEvent) => void;

/** Where security events are also kept beside the log (the admin view reads them there). */
export interface SecurityEventSink {
  /** Must not wait on anything: it runs on the request path. */
  record(event: SecurityEvent & { request_id: string }): void;
}

declare module "fastify" {
  interface FastifyInstance {
    securityEvents?: SecurityEventSink;
  }
}

const WARNING = /(\.failed|\.reused|\.throttled|^auth\.throttled|\.origin_refused|\.exceeded)$/;

/** The security events that are also counted, and how. */
function count(metrics: Metrics, event: string): void {
  switch (event) {
    case "auth.login.succeeded":
      metrics.authLogins.inc({ outcome: "succeeded" });
      break;
    case "auth.login.failed":
      metrics.authLogins.inc({ outcome: "failed" });
      break;
    case "auth.throttled":
      metrics.authLogins.inc({ outcome: "throttled" });
      metrics.authThrottledRequests.inc({ limit: "login" });
      break;
    case "auth.refresh.reused":
      metrics.authRefreshReuse.inc({});
      break;
  }
}

/** Services report security events through this; the request adds where and which request. */
export function securityLogFor(request: FastifyRequest): SecurityLog {
  return (fields) => {
    count(request.server.metrics, fields.event);
    const level = WARNING.test(fields.event) ? "warn" : "info";
    const event = { ip: request.ip, route: request.routeOptions.url, ...fields };
    request.log[level](event, fields.event);
    request.server.securityEvents?.record({ ...event, request_id: request.id });
  };
}
