import type { ErrorObject } from "ajv";
import { Ajv } from "ajv";
import addFormats from "ajv-formats";
import type { FastifySchemaCompiler } from "fastify";
import type { FieldError } from "../shared/errors.js";

/**
 * Request validation. Query strings, path parameters and headers are text, so their values
 * are coerced to the declared types; JSON bodies are not coerced — `"10"` is not a number,
 * and an amount sent as a string must be refused, not guessed at.
 */
function createAjv(coerceTypes: boolean | "array") {
  const ajv = new Ajv({
    coerceTypes,
    useDefaults: true,
    removeAdditional: true,
    // Stop at the first error. With all errors, a small body of many bad items (100,000 empty
    // tags in 300 KB) costs seconds of validation and a response of megabytes: refusing input
    // must stay cheaper than sending it.
    allErrors: false,
    strict: false,
  });
  addFormats.default(ajv);
  return ajv;
}

const bodyAjv = createAjv(false);
const textAjv = createAjv("array");

/**
 * Where in `input` (a parsed body, query, path or headers) a string or property name holds a
 * NUL or a lone surrogate, as a JSON pointer; undefined when there is none. PostgreSQL's text
 * refuses NUL and UTF-8 cannot encode a lone surrogate, so such a string could only fail
 * later, deep inside a query. Iterative, so a deeply nested body cannot overflow the stack.
 */
export function findUnsafeString(input: unknown): string | undefined {
  const pending: [unknown, string][] = [[input, ""]];
  while (pending.length > 0) {
    const [value, pointer] = pending.pop() as [unknown, string];
    if (typeof value === "string") {
      if (!isSafeText(value)) return pointer;
    } else if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i -= 1) pending.push([value[i], `${pointer}/${i}`]);
    } else if (value !== null && typeof value === "object") {
      for (const [key, item] of Object.entries(value)) {
        const child = `${pointer}/${key.replace(/~/g, "~0").replace(/\//g, "~1")}`;
        if (!isSafeText(key)) return child;
        pending.push([item, child]);
      }
    }
  }
  return undefined;
}

// String.prototype.isWellFormed is in every supported Node (20+), though not in ES2023's types.
type WellFormedCheck = { isWellFormed(): boolean };
const isSafeText = (text: string) =>
  !text.includes("\u0000") && (text as string & WellFormedCheck).isWellFormed();

const UNSAFE_TEXT_KEYWORD = "unsafeText";

/**
 * Every part of every request passes here: strings with NUL or lone surrogates are refused
 * (422) for all routes at once, before the schema's own checks, so no handler ever sees one.
 */
export const validatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) => {
  const validate = (httpPart === "body" ? bodyAjv : textAjv).compile(schema as object);
  const checked = (data: unknown) => {
    const pointer = findUnsafeString(data);
    if (pointer !== undefined) {
      checked.errors = [
        {
          keyword: UNSAFE_TEXT_KEYWORD,
          instancePath: pointer,
          schemaPath: "",
          params: {},
          message: "must not contain NUL characters or unpaired surrogates",
        },
      ];
      return false;
    }
    const valid = validate(data);
    checked.errors = validate.errors;
    return valid;
  };
  checked.errors = null as ErrorObject[] | null | undefined;
  return checked;
};

const LOCATION: Record<string, string> = {
  body: "body",
  querystring: "query",
  params: "path",
  headers: "header",
};

// FastAPI-style error types, so clients of the original system read the same words.
function errorType(error: ErrorObject): string {
  switch (error.keyword) {
    case "required":
      return "missing";
    case "minLength":
      return "string_too_short";
    case "maxLength":
      return "string_too_long";
    case "pattern":
      return "string_pattern_mismatch";
    case "format":
      return `value_error.${String(error.params.format)}`;
    case "minimum":
    case "exclusiveMinimum":
      return "greater_than_equal";
    case "maximum":
    case "exclusiveMaximum":
      return "less_than_equal";
    case "minItems":
      return "too_short";
    case "maxItems":
      return "too_long";
    case "additionalProperties":
      return "extra_forbidden";
    case "enum":
      return "enum";
    case "type":
      return `${String(error.params.type)}_type`;
    case UNSAFE_TEXT_KEYWORD:
      return "string_unsafe_characters";
    default:
      return error.keyword;
  }
}

export function toFieldErrors(errors: ErrorObject[], context: string | undefined): FieldError[] {
  const location = LOCATION[context ?? "body"] ?? context ?? "body";
  return errors.map((error) => {
    const path = error.instancePath
      .split("/")
      .slice(1)
      .map((segment) => segment.replace(/~1/g, "/").replace(/~0/g, "~"))
      .map((segment) => (/^\d+$/.test(segment) ? Number(segment) : segment));
    if (error.keyword === "required") path.push(String(error.params.missingProperty));
    if (error.keyword === "additionalProperties") path.push(String(error.params.additionalProperty));
    const loc = [location, ...path];
    const msg =
      error.keyword === "required"
        ? "Field required"
        : error.keyword === "format"
          ? `must be a valid ${String(error.params.format)}`
          : (error.message ?? "is invalid");
    return { loc, msg, type: errorType(error) };
  });
}
