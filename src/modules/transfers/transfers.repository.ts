import { and, desc, eq, inArray, lt, or, sql } from "drizzle-orm";
import type { Db } from "../../platform/database/index.js";
import {
  idempotencyKeys,
  ledgerEntries,
  type TransferRow,
  transfers,
  users,
} from "../../platform/database/schema.js";

/** The part of Drizzle a transaction callback receives; the same query API as `Db`. */
export type Tx = Parameters<Parameters<Db["transaction"]>[0]>[0];

/**
 * How `transfer_credits` ended: 201 with the transfer's response body, 400/404 with a business
 * refusal (`{ code, detail }`), both stored under the key; 409 (the key is in use by a running
 * request) or 422 (the key was used with a different request) with no body.
 */
export interface TransferOutcome {
  status: 201 | 400 | 404 | 409 | 422;
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
     * One transfer, whole, in one statement: the `transfer_credits` function (migration 0013)
     * takes the key's lock, replays a stored outcome, locks both accounts in id order, checks
     * the recipient and the funds, moves the credits, writes the ledger and the recipient's
     * live event, and stores the outcome under the key — in the statement's own transaction.
     * One round trip instead of about a dozen is what brings a transfer's API CPU from about
     * 2.6 ms to a fraction of that (bench/README.md, "Writes").
     */
    async transfer(input: {
      fromUserId: number;
      toUserId: number;
      amount: number;
      memo: string | null;
      key: string;
      requestHash: string;
      ttlMs: number;
      traceparent: string | null;
    }): Promise<TransferOutcome> {
      const result = await db.execute(
        sql`select status, body from transfer_credits(${input.fromUserId}::int, ${input.toUserId}::int,
          ${input.amount}::bigint, ${input.memo}::varchar, ${input.key}::varchar, ${input.requestHash}::varchar,
          ${input.ttlMs}::bigint, ${input.traceparent}::text)`,
      );
      // Both drivers return `{ rows }` for raw statements.
      const [row] = (result as unknown as { rows: TransferOutcome[] }).rows;
      if (!row) throw new Error("transfer_credits returned no row");
      return row;
    },

    /** Row locks on the accounts, always in id order (the mint's lock; transfers lock in SQL). */
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

    async insertMint(tx: Tx, mint: { userId: number; amount: number; memo: string | null }) {
      const [row] = await tx
        .insert(ledgerEntries)
        .values({ userId: mint.userId, kind: "mint", amount: mint.amount, memo: mint.memo })
        .returning();
      if (!row) throw new Error("insert returned no row");
      return row;
    },

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
