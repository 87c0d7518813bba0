import { expect, it, vi } from "vitest";
import { decodeCursor, isIdCursor } from "../../src/shared/cursor.js";
import { fetchPage } from "../../src/shared/paging.js";

const rowsUpTo = (count: number) => Array.from({ length: count }, (_, i) => ({ id: 100 - i }));

it("asks for one row more than the page and keeps the page; the cursor is the last kept row's key", async () => {
  const fetchRows = vi.fn(async (take: number) => rowsUpTo(take));
  const page = await fetchPage(3, fetchRows, (last) => [last.id]);
  expect(fetchRows).toHaveBeenCalledWith(4);
  expect(page.items).toEqual([{ id: 100 }, { id: 99 }, { id: 98 }]);
  expect(decodeCursor(page.nextCursor ?? "", isIdCursor)).toEqual([98]);
});

it("has no next cursor when the extra row does not come back, nor on an empty page", async () => {
  expect(
    await fetchPage(
      3,
      async () => rowsUpTo(3),
      (last) => [last.id],
    ),
  ).toEqual({
    items: rowsUpTo(3),
    nextCursor: null,
  });
  expect(
    await fetchPage(
      3,
      async () => [],
      (last: { id: number }) => [last.id],
    ),
  ).toEqual({
    items: [],
    nextCursor: null,
  });
});
