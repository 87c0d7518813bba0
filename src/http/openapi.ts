import { STATUS_CODES } from "node:http";
import { Type } from "typebox";
import { withOAuth2Error } from "./plugins/error-handler.js";
import { problem } from "./problem.js";

/** Error responses in route schemas point at the one shared Problem component. */
export const ProblemRef = Type.Unsafe<unknown>(Type.Ref("Problem"));

/** Error responses of the token endpoints: a Problem plus OAuth2's `error`/`error_description`. */
export const OAuthProblemRef = Type.Unsafe<unknown>(Type.Ref("OAuthProblem"));

/**
 * The problem `code`s an operation answers with, by status, beyond the platform's own (see
 * PLATFORM_CODES): spread into a route's schema, `{ ...problemCodes({ 409: ["email_taken"] }) }`.
 * The document turns each into a named example of that response, so clients can see which
 * codes to branch on without reading the source.
 */
export function problemCodes(codes: Record<number, readonly string[]>): { "x-problem-codes": typeof codes } {
  return { "x-problem-codes": codes };
}

/**
 * Codes that the platform, not a feature, answers with: any operation that documents the
 * status may meet them. A code listed here and by a route is shown once.
 */
const PLATFORM_CODES: Record<number, readonly string[]> = {
  401: ["not_authenticated", "invalid_token"],
  403: ["insufficient_scope"],
  422: ["validation_error"],
  429: ["rate_limited"],
  503: ["database_busy", "database_timeout"],
};
/** Refusals of a malformed path, for operations with path parameters. */
const PATH_CODES: Record<number, readonly string[]> = { 400: ["bad_url", "max_param_length"] };
/** Refusals of a body Fastify could not read, for operations that take one. */
const BODY_CODES: Record<number, readonly string[]> = {
  400: ["ctp_invalid_json_body", "ctp_empty_json_body"],
  413: ["ctp_body_too_large"],
  415: ["ctp_invalid_media_type"],
};

/** What each code means, for the examples' `detail` and the responses' descriptions. */
const CODE_DETAILS: Record<string, string> = {
  bad_url: "The URL holds a malformed percent-escape",
  max_param_length: "A path parameter is longer than 200 characters",
  not_authenticated: "Not authenticated: send `Authorization: Bearer <access token>`",
  invalid_token: "The access token is invalid, expired or revoked",
  insufficient_scope: "The token lacks a scope this operation needs",
  validation_error: "body.title: Expected string length less or equal to 200",
  rate_limited: "Too many requests; try again in 12 s",
  database_busy: "The service is busy; try again in a moment",
  database_timeout: "The request took too long in the database; try again",
  ctp_invalid_json_body: "Body is not valid JSON but content-type is set to 'application/json'",
  ctp_empty_json_body: "Body cannot be empty when content-type is set to 'application/json'",
  ctp_body_too_large: "The request body is larger than this endpoint's limit of 1 MiB (1048576 bytes)",
  ctp_invalid_media_type: "The request body is text/plain; send it as application/json",
};

interface Operation {
  parameters?: { in?: string }[];
  requestBody?: unknown;
  responses?: Record<string, DocumentResponse>;
  "x-problem-codes"?: Record<string, readonly string[]>;
}
interface DocumentResponse {
  description?: string;
  content?: Record<string, MediaType>;
}
interface MediaType {
  schema?: JsonSchema;
  example?: unknown;
  examples?: Record<string, { summary?: string; value: unknown }>;
}
type JsonSchema = { [keyword: string]: unknown };
interface Document {
  paths?: Record<string, Record<string, Operation | unknown>>;
  components?: { schemas?: Record<string, JsonSchema> };
}
const PROBLEM_REFS = new Set(["#/components/schemas/Problem", "#/components/schemas/OAuthProblem"]);

/** A problem as the error handler writes it, for `code`. */
function problemExample(status: number, code: string, oauth2: boolean) {
  const detail = CODE_DETAILS[code] ?? code.replaceAll("_", " ");
  const errors =
    code === "validation_error"
      ? [{ loc: ["body", "title"], msg: "Expected string length less or equal to 200", type: "maxLength" }]
      : undefined;
  const body = problem(status, code, detail, "7f2c1e9a4b8d4c0e", errors);
  return oauth2 ? withOAuth2Error(body) : body;
}

/**
 * Errors are sent as `application/problem+json`, but @fastify/swagger files every response
 * schema under `application/json` with the description "Default Response". In the document
 * only, a Problem response gets its real media type, its status phrase and codes as
 * description, and one example per code; every other response gets an example built from its
 * schema when the schema carries none.
 */
export function documentProblems<T>(document: T): T {
  const doc = document as Document;
  const components = doc.components?.schemas ?? {};
  for (const item of Object.values(doc.paths ?? {})) {
    for (const value of Object.values(item)) {
      const operation = value as Operation;
      if (!operation?.responses) continue;
      const declared = operation["x-problem-codes"] ?? {};
      delete operation["x-problem-codes"];
      for (const [status, response] of Object.entries(operation.responses)) {
        const json = response.content?.["application/json"];
        const ref = json?.schema?.$ref;
        if (json && typeof ref === "string" && PROBLEM_REFS.has(ref)) {
          const code = Number(status);
          const codes = [
            ...new Set([
              ...(declared[status] ?? []),
              ...(PLATFORM_CODES[code] ?? []),
              ...(operation.parameters?.some((p) => p.in === "path") ? (PATH_CODES[code] ?? []) : []),
              ...(operation.requestBody !== undefined ? (BODY_CODES[code] ?? []) : []),
            ]),
          ];
          const oauth2 = ref.endsWith("/OAuthProblem");
          const phrase = STATUS_CODES[Number(status)] ?? "Error";
          response.content = {
            "application/problem+json": {
              schema: json.schema,
              ...(codes.length > 0
                ? {
                    examples: Object.fromEntries(
                      codes.map((code) => [
                        code,
                        {
                          summary: CODE_DETAILS[code] ?? code,
                          value: problemExample(Number(status), code, oauth2),
                        },
                      ]),
                    ),
                  }
                : {}),
            },
          };
          if (response.description === "Default Response" || response.description === undefined) {
            response.description =
              codes.length > 0 ? `${phrase}: ${codes.map((code) => `\`${code}\``).join(", ")}` : phrase;
          }
          continue;
        }
        for (const media of Object.values(response.content ?? {})) {
          if (media.example !== undefined || media.examples !== undefined || !media.schema) continue;
          const example = exampleOf(media.schema, components);
          if (example !== undefined) media.example = example;
        }
      }
    }
  }
  return document;
}

const SAMPLE_STRINGS: Record<string, string> = {
  "date-time": "2026-11-30T09:00:00.000Z",
  date: "2026-11-30",
  email: "mina@example.com",
  uri: "https://kaira.example/",
  uuid: "0e6f1d2c-3b4a-4c5d-8e9f-0a1b2c3d4e5f",
  binary: "<bytes>",
};

/**
 * An example value that satisfies `schema`: its own example, default, const or first enum
 * value where it gives one, else the simplest value of its type inside its bounds. Used only
 * where a route's schema has no example, so real examples always win.
 */
export function exampleOf(schema: JsonSchema, components: Record<string, JsonSchema>, depth = 0): unknown {
  if (depth > 12) return undefined;
  const ref = schema.$ref;
  if (typeof ref === "string") {
    const target = components[ref.replace("#/components/schemas/", "")];
    return target ? exampleOf(target, components, depth + 1) : undefined;
  }
  if (Array.isArray(schema.examples) && schema.examples.length > 0) return schema.examples[0];
  if (schema.example !== undefined) return schema.example;
  if (schema.const !== undefined) return schema.const;
  if (schema.default !== undefined) return schema.default;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0];
  for (const keyword of ["anyOf", "oneOf"]) {
    const branches = schema[keyword];
    if (Array.isArray(branches)) {
      const branch = (branches as JsonSchema[]).find((b) => b.type !== "null") ?? branches[0];
      return branch ? exampleOf(branch as JsonSchema, components, depth + 1) : undefined;
    }
  }
  if (Array.isArray(schema.allOf)) {
    return Object.assign(
      {},
      ...(schema.allOf as JsonSchema[]).map((part) => exampleOf(part, components, depth + 1)),
    );
  }
  const type = Array.isArray(schema.type) ? (schema.type as string[]).find((t) => t !== "null") : schema.type;
  switch (type) {
    case "object": {
      const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
      return Object.fromEntries(
        Object.entries(properties).map(([name, property]) => [
          name,
          exampleOf(property, components, depth + 1),
        ]),
      );
    }
    case "array": {
      const items = schema.items as JsonSchema | undefined;
      const count = Math.max(1, Number(schema.minItems ?? 1));
      return items ? Array.from({ length: count }, () => exampleOf(items, components, depth + 1)) : [];
    }
    case "integer":
    case "number": {
      const minimum = typeof schema.minimum === "number" ? schema.minimum : undefined;
      const maximum = typeof schema.maximum === "number" ? schema.maximum : undefined;
      return minimum !== undefined ? Math.max(minimum, Math.min(1, maximum ?? 1)) : Math.min(1, maximum ?? 1);
    }
    case "boolean":
      return true;
    case "null":
      return null;
    case "string": {
      const sample = SAMPLE_STRINGS[String(schema.format)] ?? "string";
      const minLength = Number(schema.minLength ?? 0);
      return sample.length >= minLength ? sample : sample.padEnd(minLength, "x");
    }
    default:
      // No type: any value is valid, and an empty object says "some JSON".
      return type === undefined ? {} : undefined;
  }
}
