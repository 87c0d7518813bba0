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
