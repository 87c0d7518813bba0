import { and, desc, eq, inArray, lt, or, sql } from "drizzle-orm";
import type { Db } from "../../platform/database/index.js";
import {
  idempotencyKeys,
  ledgerEntries,
  type TransferRow,
  transfers,
  users,
} from "../../platform/database/schema.js";
import { type OutboxEvent, recordEvent } from "../../platform/events/outbox.js";

/** The part of Drizzle a transaction callback receives; the same query API as `Db`. */
export type Tx = Parameters<Parameters<Db["transaction"]>[0]>[0];

export interface StoredResponse {
  requestHash: string;
  status: number;
  body: unknown;
}

export interface AccountRow {
  id: number;
  balance: number;
  isActive: boolean;
}

export function createTransfersRepository(db: Db) {
  return {
    transaction: <T>(run: (tx: Tx) => Promise<T>) => db.transaction(run),

    /**
     * Serializes requests that share an idempotency key for the rest of the transaction;
     * false means another request with this key is running right now.
     */
    async tryLockKey(tx: Tx, userId: number, key: string): Promise<boolean> {
      const result = await tx.execute(
        sql`select pg_try_advisory_xact_lock(${userId}::int, hashtext(${key})) as locked`,
      );
      // Both drivers return `{ rows }` for raw statements.
      const [row] = (result as { rows: { locked: boolean }[] }).rows;
      return row?.locked === true;
    },

    async findResponse(tx: Tx, userId: number, key: string): Promise<StoredResponse | undefined> {
      const [row] = await tx
        .select()
        .from(idempotencyKeys)
        .where(
          and(
            eq(idempotencyKeys.userId, userId),
            eq(idempotencyKeys.key, key),
            sql`${idempotencyKeys.expiresAt} > now()`,
          ),
        );
      return row && { requestHash: row.requestHash, status: row.responseStatus, body: row.responseBody };
    },

    async saveResponse(
      tx: Tx,
      entry: {
        userId: number;
        key: string;
        requestHash: string;
        status: number;
        body: unknown;
        ttlMs: number;
      },
    ): Promise<void> {
      const values = {
        userId: entry.userId,
        key: entry.key,
        requestHash: entry.requestHash,
        responseStatus: entry.status,
        responseBody: entry.body,
        expiresAt: new Date(Date.now() + entry.ttlMs),
      };
      // An expired record of the same key is replaced: after the retention window a key is new.
      await tx
        .insert(idempotencyKeys)
        .values(values)
        .onConflictDoUpdate({ target: [idempotencyKeys.userId, idempotencyKeys.key], set: values });
    },

    /** Row locks on both accounts, always in id order, so two opposite transfers cannot deadlock. */
    async lockAccounts(tx: Tx, ids: number[]): Promise<Map<number, AccountRow>> {
      const rows = await tx
        .select({ id: users.id, balance: users.balance, isActive: users.isActive })
        .from(users)
        .where(inArray(users.id, ids))
        .orderBy(users.id)
        .for("update");
      return new Map(rows.map((row) => [row.id, row]));
    },

    async addToBalance(tx: Tx, userId: number, delta: number): Promise<number> {
      const [row] = await tx
        .update(users)
        .set({ balance: sql`${users.balance} + ${delta}` })
        .where(eq(users.id, userId))
        .returning({ balance: users.balance });
      if (!row) throw new Error(`account ${userId} vanished inside its lock`);
      return row.balance;
    },

    async insertTransfer(
      tx: Tx,
      transfer: { fromUserId: number; toUserId: number; amount: number; memo: string | null },
    ): Promise<TransferRow> {
      const [row] = await tx.insert(transfers).values(transfer).returning();
      if (!row) throw new Error("insert returned no row");
      await tx.insert(ledgerEntries).values([
        {
          userId: transfer.fromUserId,
          kind: "transfer_out",
          amount: -transfer.amount,
          transferId: row.id,
          memo: transfer.memo,
        },
        {
          userId: transfer.toUserId,
          kind: "transfer_in",
          amount: transfer.amount,
          transferId: row.id,
          memo: transfer.memo,
        },
      ]);
      return row;
    },

    async insertMint(tx: Tx, mint: { userId: number; amount: number; memo: string | null }) {
      const [row] = await tx
        .insert(ledgerEntries)
        .values({ userId: mint.userId, kind: "mint", amount: mint.amount, memo: mint.memo })
        .returning();
      if (!row) throw new Error("insert returned no row");
      return row;
    },

    recordEvent: (tx: Tx, event: OutboxEvent) => recordEvent(tx, event),

    /** The caller's transfers, sent or received, newest first (ids grow with time). */
    listForUser(userId: number, beforeId: number | undefined, limit: number): Promise<TransferRow[]> {
      return db
        .select()
        .from(transfers)
        .where(
          and(
            or(eq(transfers.fromUserId, userId), eq(transfers.toUserId, userId)),
            beforeId !== undefined ? lt(transfers.id, beforeId) : undefined,
          ),
        )
        .orderBy(desc(transfers.id))
        .limit(limit);
    },

    async deleteExpiredKeys(): Promise<number> {
      const deleted = await db
        .delete(idempotencyKeys)
        .where(lt(idempotencyKeys.expiresAt, sql`now()`))
        .returning({ key: idempotencyKeys.key });
      return deleted.length;
    },
  };
}

export type TransfersRepository = ReturnType<typeof createTransfersRepository>;
