import { type FastifyReply, type FastifyRequest, LogController } from "fastify";

// Query parameters whose values are credentials, by name: access_token, id_token, api_key,
// client_secret, password, signature, code (OAuth), session, ticket, jwt, auth...
const SECRET_PARAMETER =
  /token|secret|passw|api[-_]?key|^key$|signature|^sig$|^code$|auth|jwt|session|ticket/i;
// A value shaped like a JWT is a credential whatever its parameter is called.
const JWT_SHAPE = /^eyJ[\w-]*\.[\w-]*\.[\w-]*$/;

/**
 * The URL as logged: credential-looking query values replaced by `[redacted]`. Tokens do not
 * belong in URLs, but a client that puts one there must not have it copied into the logs.
 */
export function redactUrl(url: string): string {
  const query = url.indexOf("?");
  if (query === -1) return url;
  const pairs = url
    .slice(query + 1)
    .split("&")
    .map((pair) => {
      const equals = pair.indexOf("=");
      if (equals === -1) return pair;
      const name = pair.slice(0, equals);
      const value = pair.slice(equals + 1);
      let decodedName = name;
      let decodedValue = value;
      try {
        decodedName = decodeURIComponent(name.replace(/\+/g, " "));
        decodedValue = decodeURIComponent(value.replace(/\+/g, " "));
      } catch {
        // Malformed escapes: judge the raw text.
      }
      return SECRET_PARAMETER.test(decodedName) || JWT_SHAPE.test(decodedValue) ? `${name}=[redacted]` : pair;
    });
  return `${url.slice(0, query)}?${pairs.join("&")}`;
}

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
