import { randomUUID } from "node:crypto";
import { STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";
import type { ErrorObject } from "ajv";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import fp from "fastify-plugin";
import { databaseOverloadOf } from "../../platform/database/index.js";
import { reportError } from "../../platform/telemetry/telemetry.js";
import { DomainError, ValidationFailedError } from "../../shared/errors.js";
import { type Problem, problem } from "../problem.js";
import { toFieldErrors } from "../validation.js";

const PROBLEM_TYPE = "application/problem+json; charset=utf-8";
const OVERLOAD_RETRY_AFTER_SECONDS = 1;

/**
 * Errors Fastify's router raises before any hook or handler runs (a path with a malformed
 * escape such as `%` or `%FF`, a path parameter over the length limit): problem+json 400 like
 * every other client mistake, instead of Fastify's own JSON.
 */
export function frameworkErrorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const code = (error.code ?? "bad_request").replace(/^FST_(ERR_)?/, "").toLowerCase();
  void reply
    .code(400)
    .type(PROBLEM_TYPE)
    .header("x-request-id", request.id)
    .send(problem(400, code, error.message, request.id));
}

/**
 * The one place errors become responses. Domain errors keep their status and `code`;
 * schema failures become 422 with FastAPI-style `errors[].loc`; client mistakes Fastify
 * detects (bad JSON, too large, wrong media type) keep their 4xx; everything else is a 500
 * that says nothing about its cause to the client and logs it with the request id — except
 * database overload (a pool wait or statement timeout), which is a 503 with Retry-After.
 */
export const errorHandlerPlugin = fp(async (app: FastifyInstance) => {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    reply.type(PROBLEM_TYPE);
    const body = toProblem(error, request, reply);
    // OAuth2 clients read `error`/`error_description` (RFC 6749 §5.2) from token endpoints.
    const oauth2 = request.routeOptions.config.oauth2Errors === true;
    return reply.code(body.status).send(oauth2 ? withOAuth2Error(body) : body);
  });

  app.setNotFoundHandler((request, reply) => {
    reply
      .code(404)
      .type(PROBLEM_TYPE)
      .send(
        problem(404, "not_found", `No route for ${request.method} ${request.url.split("?")[0]}`, request.id),
      );
  });
});

declare module "fastify" {
  interface FastifyContextConfig {
    /** Error bodies also carry OAuth2's `error` and `error_description` (token endpoints). */
    oauth2Errors?: boolean;
  }
}

function toProblem(error: FastifyError, request: FastifyRequest, reply: FastifyReply): Problem {
  if (error instanceof ValidationFailedError) {
    return problem(422, error.code, error.message, request.id, error.errors);
  }
  if (error instanceof DomainError) {
    if (error.status === 401) reply.header("www-authenticate", 'Bearer realm="kaira"');
    reply.headers(error.headers);
    return problem(error.status, error.code, error.message, request.id);
  }
  if (error.validation) {
    const errors = toFieldErrors(error.validation as ErrorObject[], error.validationContext);
    const detail = errors.map((e) => `${e.loc.join(".")}: ${e.msg}`).join("; ");
    request.log.info({ event: "request.invalid", errors }, "request validation failed");
    return problem(422, "validation_error", detail, request.id, errors);
  }
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    const code = (error.code ?? "bad_request").replace(/^FST_(ERR_)?/, "").toLowerCase();
    return problem(status, code, clientErrorDetail(error, request), request.id);
  }
  // Load, not a fault: no connection came free in time, or a statement ran past the general
  // timeout. The client may retry; the log says which.
  const overload = databaseOverloadOf(error);
  if (overload) {
    request.log.warn({ err: error, event: `database.${overload}` }, "database overloaded");
    reply.header("retry-after", String(OVERLOAD_RETRY_AFTER_SECONDS));
    return overload === "busy"
      ? problem(503, "database_busy", "The service is busy; try again in a moment", request.id)
      : problem(
          503,
          "database_timeout",
          "The request took too long and was stopped; try again in a moment",
          request.id,
        );
  }
  request.log.error({ err: error }, "unhandled error");
  reportError(error, {
    requestId: request.id,
    method: request.method,
    status: 500,
    ...(request.routeOptions.url !== undefined ? { route: request.routeOptions.url } : {}),
    ...(request.principal ? { userId: request.principal.userId } : {}),
  });
  return problem(
    500,
    "internal_error",
    "An unexpected error occurred; quote the request id when reporting it.",
    request.id,
  );
}

/** Fastify's own words for a refused body say what was wrong, not what to send instead. */
function clientErrorDetail(error: FastifyError, request: FastifyRequest): string {
  switch (error.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE": {
      const limit = request.routeOptions.bodyLimit;
      return `The request body is larger than this endpoint's limit of ${formatBytes(limit)}`;
    }
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return unsupportedMediaTypeDetail(request);
    default:
      return error.message;
  }
}

function unsupportedMediaTypeDetail(request: FastifyRequest): string {
  const accepted = (request.routeOptions.schema?.consumes as string[] | undefined) ?? ["application/json"];
  const list = accepted.join(", ");
  const sent = request.headers["content-type"]?.split(";")[0]?.trim().toLowerCase();
  if (!sent) return `The request has a body but no Content-Type header; send it as ${list}`;
  const jsonWanted = accepted.includes("application/json");
  if (jsonWanted && sent === "application/x-www-form-urlencoded")
    return (
      "The body was sent as application/x-www-form-urlencoded (what `curl -d` sends by default); " +
      "send JSON with the header Content-Type: application/json"
    );
  return `Content-Type ${sent.slice(0, 100)} is not accepted here; send ${accepted.length > 1 ? "one of " : ""}${list}`;
}

function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0)
    return `${bytes / (1024 * 1024)} MiB (${bytes} bytes)`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB (${bytes} bytes)`;
  return `${bytes} bytes`;
}

/** RFC 6749 §5.2 error codes for the problems a token endpoint can answer with. */
/** Refusals of a credential presented to a token endpoint: OAuth2's `invalid_grant`. */
const INVALID_GRANT_CODES = new Set([
  "invalid_credentials",
  "invalid_refresh_token",
  "invalid_mfa_token",
  "invalid_mfa_code",
  "mfa_locked",
  "invalid_sign_in_code",
]);

export function withOAuth2Error(body: Problem): Problem & { error: string; error_description: string } {
  const error =
    body.code === "invalid_scope"
      ? "invalid_scope"
      : INVALID_GRANT_CODES.has(body.code)
        ? "invalid_grant"
        : body.errors?.some((e) => e.loc.includes("grant_type"))
          ? "unsupported_grant_type"
          : body.status >= 500
            ? "server_error"
            : "invalid_request";
  return { ...body, error, error_description: body.detail };
}

/**
 * Requests Node's HTTP parser refuses before Fastify sees them (headers over the size limit,
 * malformed HTTP, a request too slow to arrive) get problem+json like every other error; there
 * is no request id yet, so one is made for the answer. The connection is closed after it.
 */
export function clientErrorHandler(error: NodeJS.ErrnoException, socket: Duplex) {
  if (error.code === "ECONNRESET" || socket.destroyed) return;
  const [status, code, detail] =
    error.code === "ERR_HTTP_REQUEST_TIMEOUT"
      ? [408, "request_timeout", "The request did not arrive in time"]
      : error.code === "HPE_HEADER_OVERFLOW"
        ? [431, "headers_too_large", "The request headers are larger than the server accepts"]
        : [400, "malformed_http", "The request is not well-formed HTTP"];
  const body = JSON.stringify(problem(status, code, detail, randomUUID()));
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `Content-Type: application/problem+json\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}
