import { and, desc, eq, isNull, lt, sql } from "drizzle-orm";
import type { Db } from "../../platform/database/index.js";
import { type FileRow, files, postAttachments, users } from "../../platform/database/schema.js";
import { type OutboxEvent, recordEvent } from "../../platform/events/outbox.js";
import type { JobRequest, RecordJob } from "../../platform/jobs/index.js";

export type StoredFile = FileRow;

/** A file and whether any post shows it (which makes it public). */
export type FileWithVisibility = StoredFile & { attached: boolean };

export interface NewFile {
  ownerId: number;
  storageKey: string;
  filename: string;
  contentType: string;
  size: number;
  sha256: string;
}

/** A file as the admin list shows it: with its owner's name. */
export type AdminFileRow = StoredFile & { ownerUsername: string };

export interface FilesRepository {
  /** Every user's files, newest first, keyset by id (the primary key). */
  listForAdmin(beforeId: number | undefined, take: number): Promise<AdminFileRow[]>;
  /** Bytes the user's files take (the quota counts originals only). */
  usedBytes(ownerId: number): Promise<number>;
  /**
   * Inserts the file unless it would take its owner past `quotaBytes`, and records the jobs
   * for it in the same transaction. The owner's row is locked while summing, so two
   * concurrent uploads cannot both squeeze under the quota. `undefined` means over quota.
   */
  insertWithinQuota(
    file: NewFile,
    quotaBytes: number,
    jobs: (saved: StoredFile) => JobRequest[],
  ): Promise<StoredFile | undefined>;
  findWithVisibility(id: number): Promise<FileWithVisibility | undefined>;
  findById(id: number): Promise<StoredFile | undefined>;
  /**
   * Deletes the row (and so its attachments) and records the job that removes its objects.
   * Returns the ids of the posts that showed the file, whose cached copies are now stale.
   */
  delete(
    id: number,
    job: (deleted: StoredFile) => JobRequest,
    postsChanged?: (tx: Pick<Db, "select" | "insert" | "execute">, postIds: number[]) => Promise<void>,
  ): Promise<{ postIds: number[] } | undefined>;
  /**
   * Records a finished thumbnail and its event, once: false when the file is gone or already
   * has one (a repeated job run).
   */
  setThumbnail(
    id: number,
    thumbnail: { key: string; size: number },
    event: (file: StoredFile) => OutboxEvent,
  ): Promise<boolean>;
}

export function createFilesRepository(db: Db, recordJob: RecordJob): FilesRepository {
  const attached = sql<boolean>`exists (select 1 from ${postAttachments} where ${postAttachments.fileId} = ${files.id})`;

  return {
    async listForAdmin(beforeId, take) {
      const rows = await db
        .select({ file: files, ownerUsername: users.username })
        .from(files)
        .innerJoin(users, eq(users.id, files.ownerId))
        .where(beforeId !== undefined ? lt(files.id, beforeId) : undefined)
        .orderBy(desc(files.id))
        .limit(take);
      return rows.map((row) => ({ ...row.file, ownerUsername: row.ownerUsername }));
    },
    async usedBytes(ownerId) {
      const [row] = await db
        .select({ used: sql<string | number>`coalesce(sum(${files.size}), 0)` })
        .from(files)
        .where(eq(files.ownerId, ownerId));
      // sum(bigint) is numeric: a string on node-postgres, a number on PGlite.
      return Number(row?.used ?? 0);
    },

    insertWithinQuota(file, quotaBytes, jobs) {
      return db.transaction(async (tx) => {
        await tx.select({ id: users.id }).from(users).where(eq(users.id, file.ownerId)).for("update");
        const [usage] = await tx
          .select({ used: sql<string | number>`coalesce(sum(${files.size}), 0)` })
          .from(files)
          .where(eq(files.ownerId, file.ownerId));
        if (Number(usage?.used ?? 0) + file.size > quotaBytes) return undefined;
        const [saved] = await tx.insert(files).values(file).returning();
        if (!saved) throw new Error("insert returned no row");
        for (const job of jobs(saved)) await recordJob(tx, job);
        return saved;
      });
    },

    async findWithVisibility(id) {
      const [row] = await db.select({ file: files, attached }).from(files).where(eq(files.id, id)).limit(1);
      return row && { ...row.file, attached: Boolean(row.attached) };
    },

    async findById(id) {
      const [row] = await db.select().from(files).where(eq(files.id, id)).limit(1);
      return row;
    },

    delete(id, job, postsChanged) {
      return db.transaction(async (tx) => {
        // Lock the file first: an edit attaching it waits (FOR SHARE) and then finds it gone,
        // so the posts read below are all the posts that showed it.
        const [locked] = await tx.select({ id: files.id }).from(files).where(eq(files.id, id)).for("update");
        if (!locked) return undefined;
        const shownOn = await tx
          .select({ postId: postAttachments.postId })
          .from(postAttachments)
          .where(eq(postAttachments.fileId, id));
        const [deleted] = await tx.delete(files).where(eq(files.id, id)).returning();
        if (!deleted) return undefined;
        await recordJob(tx, job(deleted));
        const postIds = shownOn.map((row) => row.postId);
        if (postIds.length > 0) await postsChanged?.(tx, postIds);
        return { postIds };
      });
    },

    setThumbnail(id, thumbnail, event) {
      return db.transaction(async (tx) => {
        const [updated] = await tx
          .update(files)
          .set({ thumbnailKey: thumbnail.key, thumbnailSize: thumbnail.size })
          .where(and(eq(files.id, id), isNull(files.thumbnailKey)))
          .returning();
        if (!updated) return false;
        await recordEvent(tx, event(updated));
        return true;
      });
    },
  };
}
