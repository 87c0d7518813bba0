import { STATUS_CODES } from "node:http";
import { Type } from "typebox";
import type { FieldError } from "../shared/errors.js";

/** RFC 9457 problem details, the body of every error response. */
export const ProblemSchema = Type.Object(
  {
    type: Type.String({
      description: "A URI identifying the problem type; `about:blank` when `code` says it all",
    }),
    title: Type.String({ description: "The HTTP status phrase" }),
    status: Type.Integer(),
    detail: Type.String({ description: "A human-readable explanation" }),
    code: Type.String({ description: "A stable machine-readable error code" }),
    request_id: Type.String({ description: "The request id, also in the x-request-id header" }),
    errors: Type.Optional(
      Type.Array(
        Type.Object({
          loc: Type.Array(Type.Union([Type.String(), Type.Integer()])),
          msg: Type.String(),
          type: Type.String(),
        }),
      ),
    ),
  },
  { $id: "Problem", title: "Problem" },
);

/**
 * The token endpoints' errors: a Problem that also carries OAuth2's `error` and
 * `error_description` (RFC 6749 §5.2), so OAuth2 client libraries understand them.
 */
export const OAuthProblemSchema = Type.Object(
  {
    ...ProblemSchema.properties,
    error: Type.String({
      description:
        "OAuth2 error code: invalid_request, invalid_grant, invalid_scope, unsupported_grant_type or server_error",
    }),
    error_description: Type.String({ description: "The same text as `detail`" }),
  },
  { $id: "OAuthProblem", title: "OAuthProblem" },
);

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  request_id: string;
  errors?: FieldError[];
}

export function problem(
  status: number,
  code: string,
  detail: string,
  requestId: string,
  errors?: FieldError[],
): Problem {
  return {
    type: "about:blank",
    title: STATUS_CODES[status] ?? "Error",
    status,
    detail,
    code,
    request_id: requestId,
    ...(errors ? { errors } : {}),
  };
}
