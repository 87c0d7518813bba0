import { and, asc, eq, gt, inArray, isNotNull, isNull, lt, or, sql } from "drizzle-orm";
import type { Db } from "../../platform/database/index.js";
import { outboxEvents } from "../../platform/database/schema.js";

/** Anything that can run Drizzle statements: the database or a transaction. */
export type Executor = Pick<Db, "insert">;

export interface LiveEvent {
  id: number;
  type: string;
  /** The one user the event is for; null means everyone. */
  userId: number | null;
  data: unknown;
}

export interface OutboxEvent {
  topic: string;
  /** The one user the event is for; null means everyone. */
  userId: number | null;
  payload: unknown;
}

/** Records an event in the outbox, inside the caller's transaction, so it exists only if that commits. */
export async function recordEvent(executor: Executor, event: OutboxEvent): Promise<void> {
  await executor.insert(outboxEvents).values(event);
}

export function createOutboxRepository(db: Db) {
  const toEvent = (row: typeof outboxEvents.$inferSelect): LiveEvent => ({
    id: row.id,
    type: row.topic,
    userId: row.userId,
    data: row.payload,
  });

  return {
    /**
     * Claims up to `limit` unpublished events in id order (rows other relays hold are
     * skipped), hands them to `publish`, and marks them published — all in one transaction,
     * so a failed publish leaves them for the next round (at-least-once; clients dedupe by id).
     */
    async relayBatch(limit: number, publish: (events: LiveEvent[]) => Promise<void>): Promise<number> {
      return db.transaction(async (tx) => {
        const rows = await tx
          .select()
          .from(outboxEvents)
          .where(isNull(outboxEvents.publishedAt))
          .orderBy(asc(outboxEvents.id))
          .limit(limit)
          .for("update", { skipLocked: true });
        if (rows.length === 0) return 0;
        await publish(rows.map(toEvent));
        await tx
          .update(outboxEvents)
          .set({ publishedAt: sql`now()` })
          .where(
            inArray(
              outboxEvents.id,
              rows.map((row) => row.id),
            ),
          );
        return rows.length;
      });
    },

    /** Published events after `sinceId` that `userId` may see: the catch-up after a reconnect. */
    async publishedSince(sinceId: number, userId: number, limit: number): Promise<LiveEvent[]> {
      const rows = await db
        .select()
        .from(outboxEvents)
        .where(
          and(
            gt(outboxEvents.id, sinceId),
            isNotNull(outboxEvents.publishedAt),
            or(isNull(outboxEvents.userId), eq(outboxEvents.userId, userId)),
          ),
        )
        .orderBy(asc(outboxEvents.id))
        .limit(limit);
      return rows.map(toEvent);
    },

    async deletePublishedBefore(before: Date): Promise<number> {
      const deleted = await db
        .delete(outboxEvents)
        .where(and(isNotNull(outboxEvents.publishedAt), lt(outboxEvents.createdAt, before)))
        .returning({ id: outboxEvents.id });
      return deleted.length;
    },
  };
}

export type OutboxRepository = ReturnType<typeof createOutboxRepository>;
