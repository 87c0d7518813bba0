import { count, eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, expect, it } from "vitest";
import { DEMO_PASSWORD, seedDemoData } from "../../src/cli/seed.js";
import { createArgon2Hasher } from "../../src/modules/auth/password-hasher.js";
import { posts, users } from "../../src/platform/database/schema.js";
import { createTestDatabase, type TestDatabase } from "../helpers/test-database.js";

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(() => t.drop());

it("inserts the requested users and posts in batches, all logging in with the demo password", async () => {
  const hasher = createArgon2Hasher();
  const result = await seedDemoData(t.database, hasher, { users: 1_200, posts: 2_500, progress: false });
  expect(result).toEqual({
    users: 1_200,
    posts: 2_500,
    firstUsername: expect.stringMatching(/^demo_\w+_0$/),
  });
  const [first] = await t.database.db
    .select()
    .from(users)
    .where(eq(users.username, result.firstUsername ?? ""));
  expect(first).toBeDefined();
  const [userCount] = await t.database.db.select({ n: count() }).from(users);
  const [postCount] = await t.database.db.select({ n: count() }).from(posts);
  expect(userCount?.n).toBe(1_200);
  expect(postCount?.n).toBe(2_500);
  const [someone] = await t.database.db.select().from(users).limit(1);
  expect(await hasher.verify(someone?.passwordHash ?? "", DEMO_PASSWORD)).toBe(true);

  // A second run adds to the first without colliding on emails or usernames.
  await seedDemoData(t.database, hasher, { users: 3, posts: 0, progress: false });
  const [after] = await t.database.db.select({ n: count() }).from(users);
  expect(after?.n).toBe(1_203);
});

it("adds posts to existing users when asked for no new users", async () => {
  const result = await seedDemoData(t.database, createArgon2Hasher(), {
    users: 0,
    posts: 10,
    progress: false,
  });
  expect(result.posts).toBe(10);
  expect(result.firstUsername).toBeUndefined();
});

it("writes posts that the README's search examples find", async () => {
  await seedDemoData(t.database, createArgon2Hasher(), { users: 5, posts: 300, progress: false });
  const [row] = await t.database.db
    .select({ n: count() })
    .from(posts)
    .where(sql`${posts.searchVector} @@ websearch_to_tsquery('english', 'kubernetes upgrade')`);
  expect(Number(row?.n)).toBeGreaterThan(0);
  for (const query of [
    '"rolling update"',
    "kubernetes -helm",
    "postgres or sqlite",
    '"zero downtime" deploy -helm',
  ]) {
    const [match] = await t.database.db
      .select({ n: count() })
      .from(posts)
      .where(sql`${posts.searchVector} @@ websearch_to_tsquery('english', ${query})`);
    expect(Number(match?.n), query).toBeGreaterThan(0);
  }
});

it("bulk-loads a large seed with the posts' indexes dropped and rebuilt, search and tags intact", async () => {
  const indexNames = async () => {
    const result = (await t.database.db.execute(
      sql`select indexname, indexdef from pg_indexes where tablename = 'posts' order by indexname`,
    )) as unknown as { rows: { indexname: string; indexdef: string }[] };
    return result.rows;
  };
  const before = await indexNames();
  const progress: string[] = [];
  const result = await seedDemoData(t.database, createArgon2Hasher(), {
    users: 50,
    posts: 4_000,
    vocabulary: 500,
    bulkIndexThreshold: 1_000,
    progress: false,
    onProgress: (line) => progress.push(line),
  });
  expect(result.posts).toBe(4_000);
  // Every index is back, defined as the migrations define it.
  expect(await indexNames()).toEqual(before);
  expect(progress.some((line) => line.startsWith("indexes: "))).toBe(true);
  expect(progress.at(-1)).toMatch(/^indexes: \d+\/\d+ \(100%\)/);

  // Common words are in many posts, the vocabulary's tail in few; search reads the new rows.
  const matches = async (query: string) => {
    const [row] = await t.database.db
      .select({ n: count() })
      .from(posts)
      .where(sql`${posts.searchVector} @@ websearch_to_tsquery('english', ${query})`);
    return Number(row?.n);
  };
  expect(await matches("lorem")).toBeGreaterThan(400);
  expect(await matches("lorem")).toBeGreaterThan(await matches("aliqua"));
  // Tags: 1–3 per post, a few common and a long tail, all filterable.
  const tagged = (await t.database.db.execute(
    sql`select tag, count(*)::int as n from posts, unnest(tags) as tag group by tag order by n desc`,
  )) as unknown as { rows: { tag: string; n: number }[] };
  expect(tagged.rows[0]?.tag).toBe("news");
  expect(tagged.rows.length).toBeGreaterThan(20);
  const [news] = await t.database.db
    .select({ n: count() })
    .from(posts)
    .where(sql`${posts.tags} @> array['news']::text[]`);
  expect(Number(news?.n)).toBe(tagged.rows[0]?.n);
  const [untagged] = await t.database.db
    .select({ n: count() })
    .from(posts)
    .where(sql`cardinality(${posts.tags}) = 0 or cardinality(${posts.tags}) > 3`);
  expect(Number(untagged?.n)).toBe(0);
});

it("leaves nothing behind when a seed fails part-way", async () => {
  const [usersBefore] = await t.database.db.select({ n: count() }).from(users);
  const [postsBefore] = await t.database.db.select({ n: count() }).from(posts);
  // An empty vocabulary (the CLI refuses it) gives posts without a title: the insert fails after
  // the users' insert has succeeded, and the whole seed rolls back.
  await expect(
    seedDemoData(t.database, createArgon2Hasher(), { users: 2, posts: 3, vocabulary: 0, progress: false }),
  ).rejects.toThrow();
  const [usersAfter] = await t.database.db.select({ n: count() }).from(users);
  const [postsAfter] = await t.database.db.select({ n: count() }).from(posts);
  expect(usersAfter?.n).toBe(usersBefore?.n);
  expect(postsAfter?.n).toBe(postsBefore?.n);
});
