import type { Database } from "../../src/platform/database/index.js";
import { posts, users } from "../../src/platform/database/schema.js";

let sequence = 0;

/** Inserts users straight into the database (with a placeholder hash nobody logs in with). */
export async function insertUsers(database: Database, count: number) {
  const rows = Array.from({ length: count }, () => {
    sequence += 1;
    const id = `${Date.now().toString(36)}${sequence}`;
    return { email: `f_${id}@example.com`, username: `f_${id}`, passwordHash: "not-a-login" };
  });
  return database.db.insert(users).values(rows).returning();
}

export interface PostSpec {
  authorId: number;
  createdAt: Date;
  title?: string;
  tags?: string[];
}

export async function insertPosts(database: Database, specs: PostSpec[]) {
  return database.db
    .insert(posts)
    .values(
      specs.map((spec, i) => ({
        authorId: spec.authorId,
        title: spec.title ?? `post ${i}`,
        content: `content ${i}`,
        tags: spec.tags ?? [],
        createdAt: spec.createdAt,
        updatedAt: spec.createdAt,
      })),
    )
    .returning();
}
