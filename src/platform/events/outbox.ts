import { and, asc, eq, gt, isNotNull, isNull, lt, or, sql } from "drizzle-orm";
import type { Db, Executor, PlainRunner, PlainSql } from "../database/index.js";
import { outboxEvents } from "../database/schema.js";
import { currentTraceparent, inSpan } from "../telemetry/telemetry.js";

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
  // A plain statement rather than Drizzle's insert builder: every write records an event,
  // and building the insert (entity checks, column mapping) cost more API CPU than sending it.
  // With traces on, the event remembers the request that wrote it: its publish joins that trace.
  await executor.execute(
    sql`insert into outbox_events (topic, user_id, payload, traceparent)
      values (${event.topic}, ${event.userId}::int, ${JSON.stringify(event.payload)}::jsonb, ${currentTraceparent() ?? null}::text)`,
  );
}

const RECORD_EVENT = {
  name: "outbox_record_event",
  // Text cast to jsonb: the payload is serialized once here, whichever driver sends it.
  text: `insert into outbox_events (topic, user_id, payload, traceparent)
    values ($1::text, $2::int, $3::text::jsonb, $4::text)`,
};

/** `recordEvent` for a plain transaction (hot paths; see PlainSql). */
export async function recordEventPlain(tx: PlainRunner, event: OutboxEvent): Promise<void> {
  await tx.rows(RECORD_EVENT, [
    event.topic,
    event.userId,
    JSON.stringify(event.payload),
    currentTraceparent() ?? null,
  ]);
}

/**
 * Publishes a batch in one producer span, linked to the trace of every request that wrote one
 * of its events — and a child of that trace when they all come from one request (the common
 * case: a relay woken by the write it publishes).
 */
function publishTraced(
  events: LiveEvent[],
  rows: { traceparent: string | null }[],
  publish: (events: LiveEvent[]) => Promise<void>,
): Promise<void> {
  const traceparents = [
    ...new Set(rows.map((row) => row.traceparent).filter((t): t is string => t !== null)),
  ];
  return inSpan(
    "publish events",
    {
      kind: "producer",
      parent: traceparents.length === 1 ? traceparents[0] : undefined,
      links: traceparents,
      attributes: {
        "messaging.system": "kaira",
        "messaging.operation.type": "publish",
        "messaging.destination.name": "events",
        "messaging.batch.message_count": events.length,
      },
    },
    () => publish(events),
  );
}

/** The advisory lock relays take turns under (an arbitrary constant, unique in this database). */
const RELAY_LOCK = 7_316_001;

const ANY_UNPUBLISHED = {
  name: "outbox_any_unpublished",
  text: "select id from outbox_events where published_at is null limit 1",
};

/** Numbers and marks the next `$1` unpublished events, oldest first (under the relay lock). */
const CLAIM_EVENTS = {
  name: "outbox_claim_events",
  text: `with next as (
      select id from outbox_events where published_at is null order by id limit $1 for update
    ), numbered as (
      select id, nextval('outbox_event_seq') as seq from (select id from next order by id) ordered
    )
    update outbox_events o set seq = numbered.seq, published_at = now()
    from numbered where o.id = numbered.id
    returning o.seq, o.topic, o.user_id, o.payload, o.traceparent`,
};

interface ClaimedRow {
  seq: string | number;
  topic: string;
  user_id: number | null;
  payload: unknown;
  traceparent: string | null;
}

export function createOutboxRepository({ db, plain }: { db: Db; plain: PlainSql }) {
  const toEvent = (row: typeof outboxEvents.$inferSelect): LiveEvent => ({
    id: row.seq as number,
    type: row.topic,
    userId: row.userId,
    data: row.payload,
  });

  return {
    /**
     * Publishes up to `limit` committed events, oldest first, in one transaction under the
     * relay lock: each gets its public id from the sequence, goes to `publish`, and is marked
     * published. Relays take turns, so ids are handed out — and published — in commit order.
     * A failed publish rolls back and the events go out in a later round (at-least-once;
     * clients dedupe by id).
     */
    async relayBatch(
      limit: number,
      /** `known`: a write just committed an event, so the check for one is skipped. */
      { known }: { known: boolean },
      publish: (events: LiveEvent[]) => Promise<void>,
    ): Promise<number> {
      // Cheap check first, so an idle relay neither locks nor opens a transaction.
      if (!known) {
        const [pending] = await plain.rows(ANY_UNPUBLISHED);
        if (!pending) return 0;
      }
      // Plain statements: a busy instance runs up to 200 rounds a second, and Drizzle's
      // transaction and builders cost more API CPU than the statements (bench/README.md).
      return plain.transaction(
        async (tx) => {
          const claimed = await tx.rows<ClaimedRow>(CLAIM_EVENTS, [limit]);
          const rows = claimed
            .map((row) => ({ id: Number(row.seq), type: row.topic, userId: row.user_id, data: row.payload }))
            .sort((a, b) => a.id - b.id);
          if (rows.length === 0) return 0;
          await publishTraced(rows, claimed, publish);
          return rows.length;
        },
        // Taken with the `begin`, in one round trip; the claim's snapshot is taken after it,
        // so it sees every event the previous holder left unpublished.
        { advisoryLock: RELAY_LOCK },
      );
    },

    /**
     * Published events after `sinceId` that `userId` may see: the catch-up after a reconnect.
     * It waits for a relay round in progress to commit (the shared side of the relay lock),
     * so an event a client may have received live is never missing from its catch-up.
     */
    async publishedSince(sinceId: number, userId: number, limit: number): Promise<LiveEvent[]> {
      return db.transaction(async (tx) => {
        await tx.execute(sql`select pg_advisory_xact_lock_shared(${RELAY_LOCK})`);
        const rows = await tx
          .select()
          .from(outboxEvents)
          .where(
            and(
              gt(outboxEvents.seq, sinceId),
              or(isNull(outboxEvents.userId), eq(outboxEvents.userId, userId)),
            ),
          )
          .orderBy(asc(outboxEvents.seq))
          .limit(limit);
        return rows.map(toEvent);
      });
    },

    /** Seconds the oldest unpublished event has waited for the relay; 0 when none waits. */
    async oldestUnpublishedAgeSeconds(): Promise<number> {
      // The database's clock on both ends, so instances with skewed clocks agree. The partial
      // index on unpublished ids finds the oldest without a scan.
      const [oldest] = await db
        .select({ age: sql<number | string>`extract(epoch from now() - ${outboxEvents.createdAt})::float8` })
        .from(outboxEvents)
        .where(isNull(outboxEvents.publishedAt))
        .orderBy(asc(outboxEvents.id))
        .limit(1);
      return oldest ? Math.max(0, Number(oldest.age)) : 0;
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
