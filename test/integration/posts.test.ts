import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FEED_FIRST_PAGE_KEY } from "../../src/modules/posts/posts.cache.js";
import { insertPosts, insertUsers } from "../helpers/fixtures.js";
import { createTestApp, type TestApp } from "../helpers/test-app.js";

let t: TestApp;
let authors: { id: number; username: string }[];
let allPostIds: number[];
const base = Date.parse("2026-01-01T00:00:00.000Z");

beforeAll(async () => {
  t = await createTestApp();
  authors = await insertUsers(t.db.database, 25);
  // 55 posts, several sharing one created_at so the cursor must break ties by id.
  const specs = Array.from({ length: 55 }, (_, i) => ({
    authorId: (authors[i % authors.length] as { id: number }).id,
    createdAt: new Date(base + Math.floor(i / 3) * 1000),
    tags: i % 5 === 0 ? ["release", "news"] : ["chat"],
  }));
  const inserted = await insertPosts(t.db.database, specs);
  allPostIds = inserted.map((p) => p.id);
});
afterAll(() => t.close());

async function readAllPages(query: string, limit: number) {
  const seen: { id: number; created_at: string }[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const url: string = `/api/v1/posts?limit=${limit}${query}${cursor ? `&cursor=${cursor}` : ""}`;
    const res = await t.app.inject({ url });
    expect(res.statusCode).toBe(200);
    const page = res.json();
    expect(page.items.length).toBeLessThanOrEqual(limit);
    seen.push(...page.items);
    cursor = page.next_cursor;
    pages += 1;
  } while (cursor && pages < 100);
  return { seen, pages };
}

describe("GET /api/v1/posts", () => {
  it("lists newest first with the author embedded", async () => {
    const res = await t.app.inject({ url: "/api/v1/posts?limit=5" });
    const page = res.json();
    expect(page.items).toHaveLength(5);
    const item = page.items[0];
    expect(Object.keys(item).sort()).toEqual(
      ["attachments", "author", "content", "created_at", "id", "tags", "title", "updated_at"].sort(),
    );
    const author = authors.find((a) => a.id === item.author.id);
    expect(item.author).toEqual({ id: author?.id, username: author?.username });
    const times = page.items.map((p: { created_at: string }) => Date.parse(p.created_at));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    expect(page.next_cursor).toEqual(expect.any(String));
  });

  it("defaults to 20 items", async () => {
    const res = await t.app.inject({ url: "/api/v1/posts" });
    expect(res.json().items).toHaveLength(20);
  });

  it.each([7, 20, 100])("walks every page (limit %i) without gaps or repeats", async (limit) => {
    const { seen, pages } = await readAllPages("", limit);
    const ids = seen.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort((a, b) => a - b)).toEqual([...allPostIds].sort((a, b) => a - b));
    expect(pages).toBe(Math.ceil(allPostIds.length / limit) + (allPostIds.length % limit === 0 ? 1 : 0) || 1);
    // Strictly decreasing by (created_at, id): the order the cursor relies on.
    for (let i = 1; i < seen.length; i++) {
      const prev = seen[i - 1] as { id: number; created_at: string };
      const cur = seen[i] as { id: number; created_at: string };
      const order = Date.parse(prev.created_at) - Date.parse(cur.created_at) || prev.id - cur.id;
      expect(order).toBeGreaterThan(0);
    }
  });

  it("filters by author", async () => {
    const author = authors[3] as { id: number };
    const { seen } = await readAllPages(`&author_id=${author.id}`, 2);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((p) => (p as unknown as { author: { id: number } }).author.id === author.id)).toBe(
      true,
    );
  });

  it("filters by tag", async () => {
    const { seen } = await readAllPages("&tag=release", 4);
    expect(seen).toHaveLength(11);
    expect(seen.every((p) => (p as unknown as { tags: string[] }).tags.includes("release"))).toBe(true);
    const none = await t.app.inject({ url: "/api/v1/posts?tag=nothing-tagged-so" });
    expect(none.json()).toEqual({ items: [], next_cursor: null });
  });

  it("reads a page of 20 posts by 20 authors in one SQL statement (no N+1), then from the cache", async () => {
    const statements: string[] = [];
    // Only statements of this request: the event relay (with its advisory lock) and the job
    // runner or job-outbox relay poll in the background, on tables a posts read never names.
    const stop = t.db.database.onQuery((q) => {
      if (!/outbox|"jobs"|pg_advisory|^(begin|commit|rollback)$/i.test(q.sql)) statements.push(q.sql);
    });
    await t.app.cache.delete(FEED_FIRST_PAGE_KEY);
    const res = await t.app.inject({ url: "/api/v1/posts?limit=20" });
    const cached = await t.app.inject({ url: "/api/v1/posts?limit=20" });
    stop();
    expect(cached.json()).toEqual(res.json());
    expect(res.statusCode).toBe(200);
    const distinctAuthors = new Set(res.json().items.map((p: { author: { id: number } }) => p.author.id));
    expect(distinctAuthors.size).toBe(20);
    expect(statements, statements.join("\n---\n")).toHaveLength(1);
    expect(statements[0]).toMatch(/join "users"/i);
  });

  it.each([
    ["limit=0", ["query", "limit"]],
    ["limit=101", ["query", "limit"]],
    ["limit=abc", ["query", "limit"]],
    ["author_id=x", ["query", "author_id"]],
    ["cursor=not-a-cursor", ["query", "cursor"]],
    [`cursor=${Buffer.from('["2026-01-01",-4]').toString("base64url")}`, ["query", "cursor"]],
    [`cursor=${Buffer.from('{"a":1}').toString("base64url")}`, ["query", "cursor"]],
  ])("answers %s with 422 naming the parameter", async (query, loc) => {
    const res = await t.app.inject({ url: `/api/v1/posts?${query}` });
    expect(res.statusCode).toBe(422);
    expect(res.json().errors[0].loc).toEqual(loc);
  });
});

describe("GET /api/v1/posts/{id}", () => {
  it("returns one post", async () => {
    const id = allPostIds[10] as number;
    const res = await t.app.inject({ url: `/api/v1/posts/${id}/` });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ id, attachments: [], author: { id: expect.any(Number) } });
  });

  it("answers a missing post with 404", async () => {
    const res = await t.app.inject({ url: "/api/v1/posts/2000000000" });
    expect(res.statusCode).toBe(404);
    expect(res.json().code).toBe("post_not_found");
  });
});
