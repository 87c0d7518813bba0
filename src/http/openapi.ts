import { STATUS_CODES } from "node:http";
import { Type } from "typebox";
import { withOAuth2Error } from "./plugins/error-handler.js";
import { problem } from "./problem.js";

/** Error responses in route schemas point at the one shared Problem component. */
export const ProblemRef = Type.Unsafe<unknown>(Type.Ref("Problem"));

/** Error responses of the token endpoints: a Problem plus OAuth2's `error`/`error_description`. */
export const OAuthProblemRef = Type.Unsafe<unknown>(Type.Ref("OAuthProblem"));

/**
 * Codes by status; under `default` (a response standing for refusals of several statuses),
 * only the platform's codes, each shown with the status PLATFORM_CODES gives it.
 */
type ProblemCodes = { [status: number]: readonly string[]; default?: readonly string[] };

/**
 * The problem `code`s an operation answers with, by status, beyond the platform's own (see
 * PLATFORM_CODES): spread into a route's schema, `{ ...problemCodes({ 409: ["email_taken"] }) }`.
 * The document turns each into a named example of that response, so clients can see which
 * codes to branch on without reading the source.
 */
export function problemCodes(codes: ProblemCodes): { "x-problem-codes": ProblemCodes } {
  return { "x-problem-codes": codes };
}

/**
 * Adds `codes` to those a route's schema already declares (for a plugin that adds a refusal
 * to the routes it guards, as problemCodes() does for one route).
 */
export function addProblemCodes(schema: object, codes: ProblemCodes): void {
  const target = schema as { "x-problem-codes"?: Record<string, readonly string[]> };
  const merged: Record<string, readonly string[]> = { ...target["x-problem-codes"] };
  for (const [status, list] of Object.entries(codes)) {
    merged[status] = [...new Set([...(merged[status] ?? []), ...(list as readonly string[])])];
  }
  target["x-problem-codes"] = merged;
}

/**
 * Codes that the platform, not a feature, answers with: any operation that documents the
 * status may meet them. A code listed here and by a route is shown once. The credential
 * refusals depend on what the operation asks for, so they are chosen from its `security`
 * (see platformCodes); a Host outside TRUSTED_HOSTS is refused before any route runs.
 */
const PLATFORM_CODES: Record<number, readonly string[]> = {
  400: ["invalid_host"],
  422: ["validation_error"],
  429: ["rate_limited"],
  503: ["database_busy", "database_timeout"],
};
/** Refusals of a malformed path, for operations with path parameters. */
const PATH_CODES: Record<number, readonly string[]> = {
  400: ["bad_url", "max_param_length"],
  // A parameter value holding an encoded "/" or ".." can make the path match no route at all.
  404: ["not_found"],
};
/** Refusals of a body Fastify could not read, for operations that take one. */
const BODY_CODES: Record<number, readonly string[]> = {
  400: ["ctp_invalid_json_body", "ctp_empty_json_body"],
  413: ["ctp_body_too_large"],
  415: ["ctp_invalid_media_type"],
};

/**
 * The access-token refusals an operation can meet, from its `security`: a token that is
 * invalid (any operation that reads one), no token at all (only where one is required, not
 * where anonymous callers are allowed), a token without a scope (only where scopes are named).
 */
function credentialCodes(security: Operation["security"]): Record<number, readonly string[]> {
  const oauth2 = (security ?? []).filter((entry) => "OAuth2" in entry);
  if (oauth2.length === 0) return {};
  const anonymousAllowed = (security ?? []).some((entry) => Object.keys(entry).length === 0);
  const scoped = oauth2.some((entry) => (entry.OAuth2 ?? []).length > 0);
  const codes: Record<number, readonly string[]> = {
    401: anonymousAllowed ? ["invalid_token"] : ["not_authenticated", "invalid_token"],
  };
  if (scoped) codes[403] = ["insufficient_scope"];
  return codes;
}

/**
 * What each code means, for the examples' `detail` and the responses' descriptions: the
 * detail as the API words it, with sample values. One table for the platform's codes and the
 * features' alike: a code used by several operations (`post_not_found`, `user_not_found`) is
 * described once, and the route only says which codes it answers with. Grouped by who raises
 * them; a declared code missing here falls back to its own words, which reads poorly — add it.
 */
const CODE_DETAILS: Record<string, string> = {
  // The platform: routing, host, credentials, validation, limits, overload, request bodies.
  bad_url: "The URL holds a malformed percent-escape",
  max_param_length: "A path parameter is longer than 200 characters",
  not_found: "No route for PATCH /api/v1/posts/1/x",
  invalid_host: "Host evil.example is not allowed",
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
  invalid_metrics_token: "A valid metrics token is required",
  // auth: tokens, sessions, second factor, account links
  invalid_scope: 'Scope "billing" is unknown or not allowed for this account',
  invalid_credentials: "Incorrect username or password",
  mfa_required: "Two-factor authentication required: send the mfa_token with a code",
  email_not_verified:
    "Verify your email address first: follow the link we mailed you, or ask for a new one at /api/v1/auth/verify-email/resend",
  too_many_attempts: "Too many failed attempts; try again in 60 s",
  invalid_refresh_token: "Invalid or expired refresh token",
  csrf_failed:
    "A cookie-authenticated request needs the kaira_csrf cookie's value in the X-CSRF-Token header",
  session_not_found: "No such session",
  current_password_required: "This change needs current_password",
  invalid_current_password: "current_password is not correct",
  mfa_already_enabled: "Two-factor authentication is already on",
  mfa_not_pending: "No enrolment to confirm: start one first",
  mfa_not_enabled: "Two-factor authentication is not on",
  invalid_mfa_code: "The code is not valid",
  invalid_mfa_token: "The sign-in expired or is no longer valid; log in again",
  mfa_locked:
    "Too many wrong codes in a row: two-factor sign-in is locked. Reset your password, or ask an admin to reset your two-factor authentication",
  own_mfa_reset:
    "Admins cannot reset their own two-factor authentication: turn it off with POST /auth/mfa/disable",
  oidc_provider_not_found: "No such sign-in provider",
  oidc_provider_error: "The identity provider did not answer",
  invalid_sign_in_code: "The sign-in code is invalid or expired",
  identity_not_found: "No such linked identity",
  last_sign_in_method: "Set a password or link another provider first",
  "400 invalid_token": "This link is invalid, has expired or was already used",
  too_many_requests: "Too many account mails asked for from this address; try again in 1800 s",
  // users
  weak_password: "This password is one of the most common passwords; choose another",
  email_taken: "Email already registered",
  "409 email_taken": "Email already registered to another account",
  username_taken: "Username already taken",
  email_unchanged: "This is already the account's email",
  too_many_signups: "Too many sign-ups from this address; try again in 1800 s",
  last_admin: "This would leave no active admin: make another user an admin first",
  deletion_conflict: "The account could not be deleted now; try again",
  // posts
  post_not_found: "Post 42 not found",
  not_post_author: "Only the author or an admin may change this post",
  invalid_attachment: "body.attachment_ids.0: file 7 is not one of the author's files",
  // files
  file_not_found: "File 7 not found",
  thumbnail_not_found: "File 7 has no thumbnail (yet)",
  not_file_owner: "Only the owner or an admin may delete this file",
  range_not_satisfiable: "The range is not within the file's 18342 bytes",
  empty_file: "The file is empty",
  upload_incomplete: "The upload ended before the file was complete",
  malformed_multipart:
    "The multipart body could not be read (Unexpected end of form); send one part named `file`",
  proto_violation: "prototype property is not allowed as field name",
  file_too_large: "Files may be at most 10485760 bytes",
  quota_exceeded: "This upload would take your files past your quota of 1024 MiB; delete some first",
  files_limit: "reach files limit",
  fields_limit: "reach fields limit",
  parts_limit: "reach parts limit",
  multipart_required: "Send the file as multipart/form-data",
  unsupported_file_type:
    "Files of type text/html are not accepted; allowed: image/png, image/jpeg, image/gif, image/webp, application/pdf, text/plain",
  extension_mismatch: 'The file\'s content is image/png, which does not match its extension ".exe"; use .png',
  // search
  too_many_searches: "At most 2 searches at a time per client; wait for one to finish",
  search_busy: "Search is at capacity; try again in a moment",
  search_timeout: "The search took too long and was stopped; try again or narrow it",
  // transfers
  idempotency_key_required: "The Idempotency-Key header is required for transfers",
  invalid_idempotency_key: "Idempotency-Key must be 1–255 visible ASCII characters",
  transfer_to_self: "You cannot transfer credits to yourself",
  insufficient_funds: "Insufficient funds for this transfer",
  recipient_not_found: "User 42 not found",
  idempotency_key_in_use: "A request with this Idempotency-Key is still in progress",
  idempotency_key_reused: "header.idempotency-key: This Idempotency-Key was used with a different request",
  user_not_found: "User 42 not found",
  // live, jobs, backups
  origin_not_allowed: "This origin may not open the live feed",
  queue_unavailable: "The job queue did not answer",
  job_not_found: "No failed job 1234",
  backup_not_found: "No backup kaira-2026-11-30T03-00-00-000Z.tar.gz",
};

/**
 * The field errors of a 422 code's example: each such code names the field it refuses as
 * the error handler reports it (`errors[].loc`).
 */
const CODE_FIELD_ERRORS: Record<string, { loc: (string | number)[]; msg: string; type: string }[]> = {
  validation_error: [
    { loc: ["body", "title"], msg: "Expected string length less or equal to 200", type: "maxLength" },
  ],
  invalid_attachment: [
    {
      loc: ["body", "attachment_ids", 0],
      msg: "file 7 is not one of the author's files",
      type: "invalid_attachment",
    },
  ],
  idempotency_key_reused: [
    {
      loc: ["header", "idempotency-key"],
      msg: "This Idempotency-Key was used with a different request",
      type: "idempotency_key_reused",
    },
  ],
};

interface Operation {
  parameters?: { in?: string }[];
  security?: Record<string, string[]>[];
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

/** The status the platform answers `code` with, for the examples of a `default` response. */
function platformStatusOf(code: string): number {
  const found = Object.entries(PLATFORM_CODES).find(([, codes]) => codes.includes(code));
  if (!found)
    throw new Error(`OpenAPI: "${code}" under a default response is not one of the platform's codes`);
  return Number(found[0]);
}

/** A code's detail at a status: `"400 invalid_token"` where one code means different things by status. */
const detailOf = (status: number, code: string) =>
  CODE_DETAILS[`${status} ${code}`] ?? CODE_DETAILS[code] ?? code.replaceAll("_", " ");

/** A problem as the error handler writes it, for `code`. */
function problemExample(status: number, code: string, oauth2: boolean) {
  const detail = detailOf(status, code);
  const errors = status === 422 ? CODE_FIELD_ERRORS[code] : undefined;
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
        const json = response.content?.["application/json"] ?? response.content?.["application/problem+json"];
        // A Problem, or a choice of schemas one of which is (a Problem or a richer problem).
        const branches = (json?.schema?.anyOf ?? json?.schema?.oneOf ?? [json?.schema]) as
          | (JsonSchema | undefined)[]
          | undefined;
        const ref = branches
          ?.map((branch) => branch?.$ref)
          .find((r): r is string => typeof r === "string" && PROBLEM_REFS.has(r));
        if (json && ref !== undefined) {
          const code = Number(status);
          const isDefault = status === "default";
          const exampleStatus = (name: string) => (isDefault ? platformStatusOf(name) : code);
          // A branch that is the problem of one code, with its own example (mfa_required and its
          // mfa_token): that example stands for the code.
          const ownExample = (name: string): unknown =>
            branches?.flatMap((branch) => {
              const property = (branch?.properties as Record<string, JsonSchema> | undefined)?.code;
              const matches =
                property?.const === name || (property?.enum as unknown[] | undefined)?.includes(name);
              return matches && Array.isArray(branch?.examples) ? [branch.examples[0]] : [];
            })[0];
          const codes = [
            ...new Set([
              ...(declared[status] ?? []),
              ...(PLATFORM_CODES[code] ?? []),
              ...(credentialCodes(operation.security)[code] ?? []),
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
                          summary: detailOf(exampleStatus(code), code),
                          value: ownExample(code) ?? problemExample(exampleStatus(code), code, oauth2),
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
