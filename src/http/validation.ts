import type { ErrorObject } from "ajv";
import { Ajv } from "ajv";
import addFormats from "ajv-formats";
import type { FastifySchemaCompiler } from "fastify";
import type { FieldError } from "./errors.js";

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
    allErrors: true,
    strict: false,
  });
  addFormats.default(ajv);
  return ajv;
}

const bodyAjv = createAjv(false);
const textAjv = createAjv("array");

export const validatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) =>
  (httpPart === "body" ? bodyAjv : textAjv).compile(schema as object);

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
