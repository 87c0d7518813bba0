import { ValidationFailedError } from "./errors.js";

/**
 * Opaque keyset cursors: base64url of a small JSON array. Clients must not build them,
 * and a tampered or truncated one is a 422 on `query.cursor`, never a 500.
 */
export function encodeCursor(values: (string | number)[]): string {
  return Buffer.from(JSON.stringify(values)).toString("base64url");
}

export function decodeCursor<T extends (string | number)[]>(
  cursor: string,
  isValid: (values: unknown[]) => values is T,
): T {
  let values: unknown;
  try {
    values = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    values = undefined;
  }
  if (!Array.isArray(values) || !isValid(values)) {
    throw new ValidationFailedError([
      { loc: ["query", "cursor"], msg: "Invalid cursor", type: "value_error.cursor" },
    ]);
  }
  return values;
}

/** A cursor holding one positive id: for lists ordered by id. */
export const isIdCursor = (values: unknown[]): values is [number] => values.length === 1 && isId(values[0]);

/**
 * A timestamp exactly as cursors write it (`Date#toISOString`, UTC, milliseconds), and a real
 * instant: `Date.parse` alone would take "1" or "2024" and hand them to the database. The
 * year starts at 0001: JavaScript accepts year 0000, PostgreSQL (which has no year 0) does not.
 */
export const isIsoTimestamp = (value: unknown): value is string =>
  typeof value === "string" &&
  /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(value) &&
  !value.startsWith("0000") &&
  !Number.isNaN(Date.parse(value)) &&
  new Date(value).toISOString() === value;

/** A positive id that fits the database's integer columns. */
export const isId = (value: unknown): value is number =>
  Number.isSafeInteger(value) && (value as number) > 0 && (value as number) <= 2_147_483_647;
