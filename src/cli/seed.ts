import { randomInt } from "node:crypto";
import cliProgress from "cli-progress";
import type { PasswordHasher } from "../modules/auth/password-hasher.js";
import type { Database } from "../platform/database/index.js";
import { posts, users } from "../platform/database/schema.js";

export const DEMO_PASSWORD = "kaira-demo-password";
const BATCH_SIZE = 1_000;
const TAGS = ["news", "help", "showcase", "question", "release", "meta", "til", "jobs"];
const WORDS =
  "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua postgres node fastify kaira ledger search".split(
    " ",
  );

const words = (count: number) =>
  Array.from({ length: count }, () => WORDS[randomInt(WORDS.length)]).join(" ");

export interface SeedOptions {
  users: number;
  posts: number;
  /** Shows a progress bar; only when a person watches a terminal. */
  progress: boolean;
}

/**
 * Fills the database with demo data in batches of 1,000 rows per INSERT. Every demo user
 * shares one password hash (hashed once) so seeding 100k users takes seconds, not hours.
 */
export async function seedDemoData(database: Database, hasher: PasswordHasher, options: SeedOptions) {
  const { db } = database;
  const bar = options.progress
    ? new cliProgress.SingleBar(
        { format: " {task} [{bar}] {value}/{total}" },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  const passwordHash = await hasher.hash(DEMO_PASSWORD);
  const runTag = Date.now().toString(36);

  const userIds: number[] = [];
  bar?.start(options.users, 0, { task: "users" });
  for (let start = 0; start < options.users; start += BATCH_SIZE) {
    const batch = Array.from({ length: Math.min(BATCH_SIZE, options.users - start) }, (_, i) => {
      const n = start + i;
      return { email: `demo-${runTag}-${n}@example.com`, username: `demo_${runTag}_${n}`, passwordHash };
    });
    const inserted = await db.insert(users).values(batch).returning({ id: users.id });
    userIds.push(...inserted.map((row) => row.id));
    bar?.update(userIds.length);
  }
  bar?.stop();
  if (userIds.length === 0 && options.posts > 0) {
    const existing = await db.select({ id: users.id }).from(users).limit(10_000);
    userIds.push(...existing.map((row) => row.id));
    if (userIds.length === 0) throw new Error("seed: posts need at least one user (use --users)");
  }

  // Spread posts over the last year so the feed and its cursors look like real data.
  const now = Date.now();
  const yearMs = 365 * 24 * 3600 * 1000;
  let postCount = 0;
  bar?.start(options.posts, 0, { task: "posts" });
  for (let start = 0; start < options.posts; start += BATCH_SIZE) {
    const batch = Array.from({ length: Math.min(BATCH_SIZE, options.posts - start) }, () => {
      const createdAt = new Date(now - randomInt(yearMs));
      return {
        authorId: userIds[randomInt(userIds.length)] as number,
        title: words(3 + randomInt(6)),
        content: words(20 + randomInt(80)),
        tags: [TAGS[randomInt(TAGS.length)] as string, TAGS[randomInt(TAGS.length)] as string].filter(
          (tag, i, all) => all.indexOf(tag) === i,
        ),
        createdAt,
        updatedAt: createdAt,
      };
    });
    await db.insert(posts).values(batch);
    postCount += batch.length;
    bar?.update(postCount);
  }
  bar?.stop();
  return { users: options.users, posts: postCount };
}
