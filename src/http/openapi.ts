import { STATUS_CODES } from "node:http";
import { Type } from "typebox";

/** Error responses in route schemas point at the one shared Problem component. */
export const ProblemRef = Type.Unsafe<unknown>(Type.Ref("Problem"));

/** Error responses of the token endpoints: a Problem plus OAuth2's `error`/`error_description`. */
export const OAuthProblemRef = Type.Unsafe<unknown>(Type.Ref("OAuthProblem"));

interface DocumentResponses {
  paths?: Record<string, Record<string, { responses?: Record<string, DocumentResponse> } | unknown>>;
}
interface DocumentResponse {
  description?: string;
  content?: Record<string, { schema?: { $ref?: string } }>;
}
const PROBLEM_REFS = new Set(["#/components/schemas/Problem", "#/components/schemas/OAuthProblem"]);

/**
 * Errors are sent as `application/problem+json`, but @fastify/swagger files every response
 * schema under `application/json` with the description "Default Response". In the document
 * only, a Problem response gets its real media type and its status phrase as description.
 */
export function documentProblems<T>(document: T): T {
  for (const item of Object.values((document as DocumentResponses).paths ?? {})) {
    for (const operation of Object.values(item)) {
      const responses = (operation as { responses?: Record<string, DocumentResponse> })?.responses;
      for (const [status, response] of Object.entries(responses ?? {})) {
        const json = response.content?.["application/json"];
        if (!response.content || !json?.schema?.$ref || !PROBLEM_REFS.has(json.schema.$ref)) continue;
        response.content = { "application/problem+json": json };
        if (response.description === "Default Response") {
          response.description = STATUS_CODES[Number(status)] ?? "Error";
        }
      }
    }
  }
  return document;
}
