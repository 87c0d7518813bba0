import { describe, expect, it } from "vitest";
import { toFieldErrors } from "../../src/http/validation.js";
import { decodeCursor, encodeCursor } from "../../src/shared/cursor.js";
import { ValidationFailedError } from "../../src/shared/errors.js";

const isPair = (v: unknown[]): v is [string, number] => typeof v[0] === "string" && typeof v[1] === "number";

describe("cursors", () => {
  it("round-trip", () => {
    expect(decodeCursor(encodeCursor(["2026-01-01T00:00:00.000Z", 5]), isPair)).toEqual([
      "2026-01-01T00:00:00.000Z",
      5,
    ]);
  });

  it.each(["", "!!!", Buffer.from("[1,2]").toString("base64url"), Buffer.from("null").toString("base64url")])(
    "reject %j as a 422 on query.cursor",
    (cursor) => {
      expect(() => decodeCursor(cursor, isPair)).toThrow(ValidationFailedError);
    },
  );
});

describe("toFieldErrors", () => {
  it("builds FastAPI-style locations from Ajv errors", () => {
    const errors = toFieldErrors(
      [
        { keyword: "required", instancePath: "", schemaPath: "", params: { missingProperty: "email" } },
        {
          keyword: "type",
          instancePath: "/tags/2",
          schemaPath: "",
          params: { type: "string" },
          message: "must be string",
        },
        { keyword: "minimum", instancePath: "/limit", schemaPath: "", params: {}, message: "must be >= 1" },
        {
          keyword: "additionalProperties",
          instancePath: "",
          schemaPath: "",
          params: { additionalProperty: "x" },
        },
        { keyword: "custom", instancePath: "/a~1b", schemaPath: "", params: {} },
      ],
      "querystring",
    );
    expect(errors).toEqual([
      { loc: ["query", "email"], msg: "Field required", type: "missing" },
      { loc: ["query", "tags", 2], msg: "must be string", type: "string_type" },
      { loc: ["query", "limit"], msg: "must be >= 1", type: "greater_than_equal" },
      { loc: ["query", "x"], msg: "is invalid", type: "extra_forbidden" },
      { loc: ["query", "a/b"], msg: "is invalid", type: "custom" },
    ]);
  });
});
