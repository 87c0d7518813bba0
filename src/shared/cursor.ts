import { ValidationFailedError } from "../http/errors.js";

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
export const isIdCursor = (values: unknown[]): values is [number] =>
  values.length === 1 &&
  Number.isSafeInteger(values[0]) &&
  (values[0] as number) > 0 &&
  (values[0] as number) <= 2_147_483_647;
