import { and, arrayContains, asc, desc, eq, inArray, type SQL, sql } from "drizzle-orm";
import type { Db, PlainSql } from "../../platform/database/index.js";
import { files, postAttachments, posts, users } from "../../platform/database/schema.js";
import { type OutboxEvent, recordEvent, recordEventPlain } from "../../platform/events/outbox.js";

export interface PostAttachment {
  id: number;
  filename: string;
  contentType: string;
  size: number;
}

export interface PostWithAuthor {
  id: number;
  title: string;
  content: string;
  tags: string[];
  createdAt: Date;
  updatedAt: Date;
  author: { id: number; username: string };
  attachments: PostAttachment[];
}

/** Some attachment ids are not files of the post's author (or do not exist at all). */
export class ForeignAttachmentsError extends Error {
  constructor(readonly fileIds: number[]) {
    super(`files ${fileIds.join(", ")} cannot be attached`);
    this.name = "ForeignAttachmentsError";
  }
}

export interface PostListFilter {
  limit: number;
  /** Keyset position: rows strictly older than (createdAt, id). */
  after?: { createdAt: string; id: number };
  authorId?: number;
  tag?: string;
}

export interface PostsRepository {
  /** Newest first, author and attachments included — one statement however many posts. */
  listByCursor(filter: PostListFilter): Promise<PostWithAuthor[]>;
  findById(id: number): Promise<PostWithAuthor | undefined>;
  findAuthorId(id: number): Promise<number | undefined>;
  idsByAuthor(authorId: number): Promise<number[]>;
  /** Each write records its event in the same transaction (the outbox), built from the saved post. */
  /** `attachmentIds` must be files of the author; otherwise ForeignAttachmentsError and nothing is saved. */
  insert(
    post: { authorId: number; title: string; content: string; tags: string[]; attachmentIds?: number[] },
    event: (saved: PostWithAuthor) => OutboxEvent,
  ): Promise<PostWithAuthor>;
  /** `attachmentIds`, when given, replaces the post's attachments (files of the post's author only). */
  update(
    id: number,
    changes: { title?: string; content?: string; tags?: string[]; attachmentIds?: number[] },
    event: (saved: PostWithAuthor) => OutboxEvent,
  ): Promise<PostWithAuthor>;
  delete(id: number, event: OutboxEvent): Promise<boolean>;
  /**
   * Inside the caller's transaction, records `event` for each of these posts as they now are:
   * for a change made elsewhere, such as one of their files being deleted.
   */
  recordChanged(
    tx: Pick<Db, "select" | "insert" | "execute">,
    ids: number[],
    event: (saved: PostWithAuthor) => OutboxEvent,
  ): Promise<void>;
}

type Transaction = Parameters<Parameters<Db["transaction"]>[0]>[0];

/**
 * A post's attachments as one JSON array, by a correlated subquery: the feed stays one
 * statement per page, and the join table's primary key (post_id, file_id) serves the lookup.
 */
const attachmentsOfPost = sql<PostAttachment[]>`coalesce((
  select json_agg(json_build_object(
      'id', ${files.id}, 'filename', ${files.filename},
      'contentType', ${files.contentType}, 'size', ${files.size})
    order by ${postAttachments.position})
  from ${postAttachments} join ${files} on ${files.id} = ${postAttachments.fileId}
  where ${postAttachments.postId} = ${posts.id}), '[]'::json)`;

/**
 * Replaces a post's attachments, inside the caller's transaction. The files are locked
 * (FOR SHARE) while checked, so one deleted concurrently cannot slip in half-attached.
 */
async function attachFiles(tx: Transaction, postId: number, authorId: number, fileIds: number[]) {
  await tx.delete(postAttachments).where(eq(postAttachments.postId, postId));
  if (fileIds.length === 0) return;
  const owned = await tx
    .select({ id: files.id })
    .from(files)
    .where(and(inArray(files.id, fileIds), eq(files.ownerId, authorId)))
    .for("share");
  const ownedIds = new Set(owned.map((row) => row.id));
  const foreign = fileIds.filter((id) => !ownedIds.has(id));
  if (foreign.length > 0) throw new ForeignAttachmentsError(foreign);
  await tx.insert(postAttachments).values(fileIds.map((fileId, position) => ({ postId, fileId, position })));
}

const INSERT_POST = {
  name: "posts_insert",
  text: `with inserted as (
      insert into posts (author_id, title, content, tags)
      values ($1::int, $2::text, $3::text, $4::text[])
      returning id, title, content, tags, created_at, updated_at, author_id)
    select inserted.*, users.username as author_username
    from inserted join users on users.id = inserted.author_id`,
};

/** A row of the plain insert statement, as the driver returns it. */
interface InsertedPostRow {
  id: number;
  title: string;
  content: string;
  tags: string[];
  created_at: Date | string;
  updated_at: Date | string;
  author_id: number;
  author_username: string;
}

const fromInsertedRow = (row: InsertedPostRow): PostWithAuthor => ({
  id: row.id,
  title: row.title,
  content: row.content,
  tags: row.tags,
  createdAt: new Date(row.created_at),
  updatedAt: new Date(row.updated_at),
  author: { id: row.author_id, username: row.author_username },
  attachments: [],
});

/** The columns of a `PostWithAuthor`, for any query that joins `users` on the post's author. */
export const postWithAuthorColumns = {
  id: posts.id,
  title: posts.title,
  content: posts.content,
  tags: posts.tags,
  createdAt: posts.createdAt,
  updatedAt: posts.updatedAt,
  author: { id: users.id, username: users.username },
  attachments: attachmentsOfPost,
};

export function createPostsRepository({ db, plain }: { db: Db; plain: PlainSql }): PostsRepository {
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
    async idsByAuthor(authorId) {
      const rows = await db.select({ id: posts.id }).from(posts).where(eq(posts.authorId, authorId));
      return rows.map((row) => row.id);
    },
    async findAuthorId(id) {
      const [row] = await db
        .select({ authorId: posts.authorId })
        .from(posts)
        .where(eq(posts.id, id))
        .limit(1);
      return row?.authorId;
    },
    async insert({ attachmentIds, ...post }, event) {
      if (!attachmentIds || attachmentIds.length === 0) {
        // The common case, a post without files, costs one statement besides the event: the
        // insert returns the post with its author's name, so nothing is read back. Plain,
        // prepared statements rather than Drizzle's builders and transaction, which cost more
        // API CPU than the statements themselves (bench/README.md, "Writes").
        return plain.transaction(async (tx) => {
          const [row] = await tx.rows<InsertedPostRow>(INSERT_POST, [
            post.authorId,
            post.title,
            post.content,
            post.tags,
          ]);
          if (!row) throw new Error("insert returned no row");
          const saved = fromInsertedRow(row);
          await recordEventPlain(tx, event(saved));
          return saved;
        });
      }
      return db.transaction(async (tx) => {
        const [row] = await tx.insert(posts).values(post).returning({ id: posts.id });
        if (!row) throw new Error("insert returned no row");
        await attachFiles(tx, row.id, post.authorId, attachmentIds);
        const [saved] = await selectWithAuthor(tx).where(eq(posts.id, row.id));
        if (!saved) throw new Error("inserted post not found");
        await recordEvent(tx, event(saved));
        return saved;
      });
    },
    update(id, { attachmentIds, ...changes }, event) {
      return db.transaction(async (tx) => {
        const [updated] = await tx
          .update(posts)
          .set({ ...changes, updatedAt: sql`now()` })
          .where(eq(posts.id, id))
          .returning({ authorId: posts.authorId });
        if (updated && attachmentIds) await attachFiles(tx, id, updated.authorId, attachmentIds);
        const [saved] = await selectWithAuthor(tx).where(eq(posts.id, id));
        if (!saved) throw new Error(`post ${id} vanished during its update`);
        await recordEvent(tx, event(saved));
        return saved;
      });
    },
    async recordChanged(tx, ids, event) {
      if (ids.length === 0) return;
      const changed = await selectWithAuthor(tx).where(inArray(posts.id, ids)).orderBy(asc(posts.id));
      for (const post of changed) await recordEvent(tx, event(post));
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
