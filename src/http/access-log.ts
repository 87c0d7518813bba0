import { type FastifyReply, type FastifyRequest, LogController } from "fastify";
import { redactUrl } from "../shared/redaction.js";

/**
 * One access-log line per request — request id, method, route, status, duration — instead
 * of Fastify's default pair of "incoming"/"completed" lines.
 */
export class AccessLog extends LogController {
  constructor() {
    super({ requestIdLogLabel: "request_id" });
  }

  override incomingRequest(): void {}

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    const line = {
      method: request.method,
      route: request.routeOptions.url ?? null,
      url: redactUrl(request.url),
      status: reply.statusCode,
      duration_ms: Math.round(reply.elapsedTime * 100) / 100,
    };
    if (error) reply.log.error({ ...line, err: error }, "request errored");
    else reply.log.info(line, "request completed");
  }
}
