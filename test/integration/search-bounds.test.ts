import { afterAll, beforeAll, expect, it } from "vitest";
import { posts } from "../../src/platform/database/schema.js";
import { insertUsers } from "../helpers/fixtures.js";
import { createTestApp, type TestApp } from "../helpers/test-app.js";

// A small window, so a handful of posts makes a "broad" query.
const WINDOW = 5;

let t: TestApp;
const ids: Record<string, number> = {};

beforeAll(async () => {
  t = await createTestApp({ SEARCH_RANK_WINDOW: String(WINDOW) });
  const [author] = await insertUsers(t.db.database, 1);
  if (!author) throw new Error("no author");
  const day = (n: number) => new Date(Date.UTC(2026, 0, n));
  // Eight posts mention "quokka", one a day. The two oldest have it in the title, which
  // ranks highest; the six newer only in the content. Three mention "island" too.
  const rows = [
    {
      key: "d1",
      title: "Quokka island guide",
      content: "Where to see them.",
      createdAt: day(1),
      tags: ["wildlife"],
    },
    { key: "d2", title: "Quokka photos", content: "A gallery.", createdAt: day(2), tags: ["wildlife"] },
    { key: "d3", title: "Trip notes", content: "We met a quokka by the ferry.", createdAt: day(3) },
    { key: "d4", title: "Weekend", content: "A quokka stole a sandwich.", createdAt: day(4) },
    { key: "d5", title: "Island life", content: "Cycling, swimming, one quokka.", createdAt: day(5) },
    { key: "d6", title: "Ferry times", content: "The quokka ferry leaves at nine.", createdAt: day(6) },
    { key: "d7", title: "Snacks", content: "Do not feed the quokka bread.", createdAt: day(7) },
    {
      key: "d8",
      title: "Back home",
      content: "Missing the island and the quokka already.",
      createdAt: day(8),
    },
    // Eight posts have both "wombat" and "burrow"; the phrase "wombat burrow" is in the oldest
    // (in its title, which would rank first) and in the newest only.
    { key: "w1", title: "Wombat burrow", content: "A whole guide.", createdAt: day(10) },
    ...[11, 12, 13, 14, 15, 16].map((n) => ({
      key: `w${n - 9}`,
      title: "Digging",
      content: `A burrow dug by a wombat, number ${n}.`,
      createdAt: day(n),
    })),
    { key: "w8", title: "Collapse", content: "The wombat burrow fell in.", createdAt: day(17) },
  ];
  const inserted = await t.db.database.db
    .insert(posts)
    .values(rows.map(({ key: _key, ...row }) => ({ ...row, authorId: author.id, updatedAt: row.createdAt })))
    .returning({ id: posts.id });
  rows.forEach((row, i) => {
    ids[row.key] = inserted[i]?.id ?? 0;
  });
});
afterAll(() => t.close());

async function searchAll(q: string, limit: number): Promise<{ id: number; rank: number }[]> {
  const items: { id: number; rank: number }[] = [];
  let cursor: string | null = null;
  do {
    const params = new URLSearchParams({ q, limit: String(limit), ...(cursor ? { cursor } : {}) });
    const res = await t.app.inject({ url: `/api/v1/search/posts?${params}` });
    expect(res.statusCode).toBe(200);
    const page = res.json();
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor);
  return items;
}

it("ranks only the newest SEARCH_RANK_WINDOW matches of a broad query, leaving older ones out", async () => {
  const items = await searchAll("quokka", 100);
  // Eight posts match; the window holds the five newest (days 4–8). The oldest two would rank
  // first (a title match), but they are outside the window.
  expect(items.map((hit) => hit.id).sort()).toEqual(["d4", "d5", "d6", "d7", "d8"].map((k) => ids[k]).sort());
  expect(items.map((hit) => hit.id)).not.toContain(ids.d1);
  expect(items.map((hit) => hit.id)).not.toContain(ids.d2);
  // Ranked among themselves: "Island life" has no title match for quokka, so ranks are
  // non-increasing over the whole list.
  const ranks = items.map((hit) => hit.rank);
  expect([...ranks].sort((a, b) => b - a)).toEqual(ranks);
});

it("pages through the same window without gaps or repeats", async () => {
  const paged = await searchAll("quokka", 2);
  const whole = await searchAll("quokka", 100);
  expect(paged.map((hit) => hit.id)).toEqual(whole.map((hit) => hit.id));
});

it("ranks every match of a query narrower than the window, the oldest included", async () => {
  const items = await searchAll("quokka island", 100);
  // Three posts have both words; the oldest has both in its title and ranks first.
  expect(items.map((hit) => hit.id).sort()).toEqual([ids.d1, ids.d5, ids.d8].sort());
  const [first, second] = items;
  expect(first?.id).toBe(ids.d1);
  expect(first?.rank).toBeGreaterThan(second?.rank ?? Number.POSITIVE_INFINITY);
});

it("applies filters before the window: a tag's matches are ranked among themselves", async () => {
  // Both posts tagged "wildlife" are older than the unfiltered window; filtered, they are all
  // the matches there are.
  const res = await t.app.inject({ url: "/api/v1/search/posts?q=quokka&tag=wildlife" });
  expect(
    res
      .json()
      .items.map((hit: { id: number }) => hit.id)
      .sort(),
  ).toEqual([ids.d1, ids.d2].sort());
});

it("checks a phrase in the window of the newest posts that have all its words", async () => {
  // Eight posts have both words, so the window is the five newest of them (w4–w8); of those
  // only w8 has the phrase. w1 has it too, in its title, but is older than the window.
  const items = await searchAll('"wombat burrow"', 100);
  expect(items.map((hit) => hit.id)).toEqual([ids.w8]);
  // The words alone, without the phrase, rank the same window.
  const words = await searchAll("wombat burrow", 100);
  expect(words.map((hit) => hit.id).sort()).toEqual(["w4", "w5", "w6", "w7", "w8"].map((k) => ids[k]).sort());
});

it("finds every match of a phrase whose words are in fewer posts than the window", async () => {
  // Two posts have both words; only one has them side by side, and a phrase never matches
  // the words apart.
  const items = await searchAll('"quokka ferry"', 100);
  expect(items.map((hit) => hit.id)).toEqual([ids.d6]);
  // Stop words inside a phrase still count as a distance ('quokka' <3> 'ferri').
  expect((await searchAll('"quokka by the ferry"', 100)).map((hit) => hit.id)).toEqual([ids.d3]);
  // A phrase combined with other terms and exclusions keeps its meaning.
  expect((await searchAll('"quokka ferry" nine', 100)).map((hit) => hit.id)).toEqual([ids.d6]);
  expect(await searchAll('"quokka ferry" -nine', 100)).toEqual([]);
  expect((await searchAll('quokka ferry -"quokka ferry"', 100)).map((hit) => hit.id)).toEqual([ids.d3]);
});
