import type { ErrorObject } from "ajv";
import type { FastifyError, FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import { databaseOverloadOf } from "../../platform/database/index.js";
import { DomainError, ValidationFailedError } from "../errors.js";
import { problem } from "../problem.js";
import { toFieldErrors } from "../validation.js";

const PROBLEM_TYPE = "application/problem+json; charset=utf-8";
const OVERLOAD_RETRY_AFTER_SECONDS = 1;

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
    if (error instanceof ValidationFailedError) {
      return reply.code(422).send(problem(422, error.code, error.message, request.id, error.errors));
    }
    if (error instanceof DomainError) {
      if (error.status === 401) reply.header("www-authenticate", 'Bearer realm="kaira"');
      const retryAfter = (error as { retryAfterSeconds?: number }).retryAfterSeconds;
      if (retryAfter !== undefined) reply.header("retry-after", String(retryAfter));
      return reply.code(error.status).send(problem(error.status, error.code, error.message, request.id));
    }
    if (error.validation) {
      const errors = toFieldErrors(error.validation as ErrorObject[], error.validationContext);
      const detail = errors.map((e) => `${e.loc.join(".")}: ${e.msg}`).join("; ");
      request.log.info({ event: "request.invalid", errors }, "request validation failed");
      return reply.code(422).send(problem(422, "validation_error", detail, request.id, errors));
    }
    const status = error.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      const code = (error.code ?? "bad_request").replace(/^FST_(ERR_)?/, "").toLowerCase();
      return reply.code(status).send(problem(status, code, error.message, request.id));
    }
    // Load, not a fault: no connection came free in time, or a statement ran past the general
    // timeout. The client may retry; the log says which.
    const overload = databaseOverloadOf(error);
    if (overload) {
      request.log.warn({ err: error, event: `database.${overload}` }, "database overloaded");
      const [code, detail] =
        overload === "busy"
          ? ["database_busy", "The service is busy; try again in a moment"]
          : ["database_timeout", "The request took too long and was stopped; try again in a moment"];
      return reply
        .code(503)
        .header("retry-after", String(OVERLOAD_RETRY_AFTER_SECONDS))
        .send(problem(503, code, detail, request.id));
    }
    request.log.error({ err: error }, "unhandled error");
    return reply
      .code(500)
      .send(
        problem(
          500,
          "internal_error",
          "An unexpected error occurred; quote the request id when reporting it.",
          request.id,
        ),
      );
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
