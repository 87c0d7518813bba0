import { and, arrayContains, desc, eq, type SQL, sql } from "drizzle-orm";
import type { Db } from "../../platform/database/index.js";
import { posts, users } from "../../platform/database/schema.js";
import { type OutboxEvent, recordEvent } from "../live/outbox.js";

export interface PostWithAuthor {
  id: number;
  title: string;
  content: string;
  tags: string[];
  createdAt: Date;
  updatedAt: Date;
  author: { id: number; username: string };
}

export interface PostListFilter {
  limit: number;
  /** Keyset position: rows strictly older than (createdAt, id). */
  after?: { createdAt: string; id: number };
  authorId?: number;
  tag?: string;
}

export interface PostsRepository {
  /** Newest first, author joined in — one statement however many posts. */
  listByCursor(filter: PostListFilter): Promise<PostWithAuthor[]>;
  findById(id: number): Promise<PostWithAuthor | undefined>;
  findAuthorId(id: number): Promise<number | undefined>;
  /** Each write records its event in the same transaction (the outbox), built from the saved post. */
  insert(
    post: { authorId: number; title: string; content: string; tags: string[] },
    event: (saved: PostWithAuthor) => OutboxEvent,
  ): Promise<PostWithAuthor>;
  update(
    id: number,
    changes: { title?: string; content?: string; tags?: string[] },
    event: (saved: PostWithAuthor) => OutboxEvent,
  ): Promise<PostWithAuthor>;
  delete(id: number, event: OutboxEvent): Promise<boolean>;
}

/** The columns of a `PostWithAuthor`, for any query that joins `users` on the post's author. */
export const postWithAuthorColumns = {
  id: posts.id,
  title: posts.title,
  content: posts.content,
  tags: posts.tags,
  createdAt: posts.createdAt,
  updatedAt: posts.updatedAt,
  author: { id: users.id, username: users.username },
};

export function createPostsRepository(db: Db): PostsRepository {
  const selectWithAuthor = (executor: Pick<Db, "select"> = db) =>
    executor.select(postWithAuthorColumns).from(posts).innerJoin(users, eq(users.id, posts.authorId));

  // The hottest reads are prepared once: on PostgreSQL a named statement is parsed and
  // planned once per connection instead of on every request.
  const findByIdPrepared = selectWithAuthor()
    .where(eq(posts.id, sql.placeholder("id")))
    .limit(1)
    .prepare("posts_find_by_id");

  // The unfiltered feed — the busiest list — is prepared too, first page and later pages.
  const newestFirst = [desc(posts.createdAt), desc(posts.id)];
  const feedFirstPage = selectWithAuthor()
    .orderBy(...newestFirst)
    .limit(sql.placeholder("limit"))
    .prepare("posts_feed_first_page");
  const feedNextPage = selectWithAuthor()
    .where(
      sql`(${posts.createdAt}, ${posts.id}) < (${sql.placeholder("createdAt")}::timestamptz, ${sql.placeholder("id")})`,
    )
    .orderBy(...newestFirst)
    .limit(sql.placeholder("limit"))
    .prepare("posts_feed_next_page");

  return {
    listByCursor({ limit, after, authorId, tag }) {
      if (authorId === undefined && tag === undefined) {
        return after ? feedNextPage.execute({ limit, ...after }) : feedFirstPage.execute({ limit });
      }
      const conditions: SQL[] = [];
      if (after) {
        conditions.push(
          sql`(${posts.createdAt}, ${posts.id}) < (${after.createdAt}::timestamptz, ${after.id})`,
        );
      }
      if (authorId !== undefined) conditions.push(eq(posts.authorId, authorId));
      if (tag !== undefined) conditions.push(arrayContains(posts.tags, [tag]));
      return selectWithAuthor()
        .where(and(...conditions))
        .orderBy(...newestFirst)
        .limit(limit);
    },
    async findById(id) {
      const [row] = await findByIdPrepared.execute({ id });
      return row;
    },
    async findAuthorId(id) {
      const [row] = await db
        .select({ authorId: posts.authorId })
        .from(posts)
        .where(eq(posts.id, id))
        .limit(1);
      return row?.authorId;
    },
    insert(post, event) {
      return db.transaction(async (tx) => {
        const [row] = await tx.insert(posts).values(post).returning({ id: posts.id });
        if (!row) throw new Error("insert returned no row");
        const [saved] = await selectWithAuthor(tx).where(eq(posts.id, row.id));
        if (!saved) throw new Error("inserted post not found");
        await recordEvent(tx, event(saved));
        return saved;
      });
    },
    update(id, changes, event) {
      return db.transaction(async (tx) => {
        await tx
          .update(posts)
          .set({ ...changes, updatedAt: sql`now()` })
          .where(eq(posts.id, id));
        const [saved] = await selectWithAuthor(tx).where(eq(posts.id, id));
        if (!saved) throw new Error(`post ${id} vanished during its update`);
        await recordEvent(tx, event(saved));
        return saved;
      });
    },
    delete(id, event) {
      return db.transaction(async (tx) => {
        const deleted = await tx.delete(posts).where(eq(posts.id, id)).returning({ id: posts.id });
        if (deleted.length === 1) await recordEvent(tx, event);
        return deleted.length === 1;
      });
    },
  };
}
