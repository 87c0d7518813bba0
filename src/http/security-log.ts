import type { FastifyRequest } from "fastify";

/** A security event: what happened (`event`) and to whom, never a password or a token. */
export type SecurityEvent = { event: string; [field: string]: unknown };
export type SecurityLog = (event: SecurityEvent) => void;

const WARNING = /(\.failed|\.reused|\.throttled|^auth\.throttled)$/;

/** Services report security events through this; the request adds where and which request. */
export function securityLogFor(request: FastifyRequest): SecurityLog {
  return (fields) => {
    const level = WARNING.test(fields.event) ? "warn" : "info";
    request.log[level]({ ip: request.ip, route: request.routeOptions.url, ...fields }, fields.event);
  };
}
