import { and, desc, eq, gte, lt, lte, sql } from "drizzle-orm";
import type { Db } from "../../platform/database/index.js";
import { type SecurityEventRow, securityEvents } from "../../platform/database/schema.js";

export type NewSecurityEvent = Omit<SecurityEventRow, "id">;

export interface SecurityEventFilter {
  event?: string | undefined;
  userId?: number | undefined;
  from?: Date | undefined;
  to?: Date | undefined;
  /** Keyset: only events with a smaller id (the list is newest first). */
  beforeId?: number | undefined;
}

export function createSecurityEventsRepository(db: Db) {
  return {
    /** One multi-row insert per batch. */
    async insertMany(rows: NewSecurityEvent[]): Promise<void> {
      if (rows.length > 0) await db.insert(securityEvents).values(rows);
    },

    /** Newest first; every filter uses an index (event, id), (user_id, id) or occurred_at. */
    list(filter: SecurityEventFilter, take: number): Promise<SecurityEventRow[]> {
      const conditions = [
        filter.event !== undefined ? eq(securityEvents.event, filter.event) : undefined,
        filter.userId !== undefined ? eq(securityEvents.userId, filter.userId) : undefined,
        filter.from !== undefined ? gte(securityEvents.occurredAt, filter.from) : undefined,
        filter.to !== undefined ? lte(securityEvents.occurredAt, filter.to) : undefined,
        filter.beforeId !== undefined ? lt(securityEvents.id, filter.beforeId) : undefined,
      ];
      return db
        .select()
        .from(securityEvents)
        .where(and(...conditions))
        .orderBy(desc(securityEvents.id))
        .limit(take);
    },

    /**
     * Keeps the table bounded: drops events older than `before`, then all but the newest
     * `maxRows` (a flood of refusals must not grow it without limit). Returns how many went.
     */
    async deleteExpired(before: Date, maxRows: number): Promise<number> {
      const result = await db.execute(sql`
        with gone as (
          delete from ${securityEvents}
          where ${securityEvents.occurredAt} < ${before.toISOString()}
             or ${securityEvents.id} <= (
               select ${securityEvents.id} from ${securityEvents}
               order by ${securityEvents.id} desc offset ${maxRows} limit 1
             )
          returning 1
        )
        select count(*)::int as deleted from gone`);
      return Number((result as unknown as { rows: { deleted: number }[] }).rows[0]?.deleted ?? 0);
    },
  };
}

export type SecurityEventsRepository = ReturnType<typeof createSecurityEventsRepository>;
