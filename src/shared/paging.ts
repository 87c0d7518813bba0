import { encodeCursor } from "./cursor.js";

/** One page of a keyset-paginated list; `nextCursor` is null on the last page. */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/**
 * Fetches one page of a keyset-paginated list. `fetchRows` is asked for one row more than
 * `limit`: whether it comes back tells if another page exists, without a count query. The
 * next cursor holds `keyOf` the last row kept: the values the list is ordered by.
 */
export async function fetchPage<T>(
  limit: number,
  fetchRows: (take: number) => Promise<T[]>,
  keyOf: (last: T) => (string | number)[],
): Promise<Page<T>> {
  const rows = await fetchRows(limit + 1);
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return { items, nextCursor: rows.length > limit && last !== undefined ? encodeCursor(keyOf(last)) : null };
}
