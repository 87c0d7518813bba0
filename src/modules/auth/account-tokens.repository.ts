import { and, eq, gt, inArray, isNull, lt, sql } from "drizzle-orm";
import type { Db } from "../../platform/database/index.js";
import { type AccountTokenRow, accountTokens } from "../../platform/database/schema.js";

/** The database or an open transaction: token changes join the write they authorise. */
export type TokenExecutor = Pick<Db, "insert" | "update" | "delete" | "select">;

export interface NewAccountToken {
  userId: number;
  purpose: string;
  tokenHash: string;
  email: string | null;
  expiresAt: Date;
  /** When the request the token answers was authorised (default: now). */
  createdAt?: Date;
}

/** One-time account tokens, by hash. Nothing here ever sees a token itself. */
export function createAccountTokensRepository(db: Db) {
  /** Deletes the user's unspent tokens of these purposes (a newer one replaces them, or they lost their point). */
  async function revokeUnused(executor: TokenExecutor, userId: number, purposes: string[]): Promise<void> {
    await executor
      .delete(accountTokens)
      .where(
        and(
          eq(accountTokens.userId, userId),
          inArray(accountTokens.purpose, purposes),
          isNull(accountTokens.usedAt),
        ),
      );
  }

  return {
    async insert(executor: TokenExecutor, token: NewAccountToken): Promise<void> {
      await executor.insert(accountTokens).values(token);
    },

    /**
     * Spends the token in one statement: only an unspent, unexpired row of this purpose
     * matches, so of two concurrent uses exactly one gets the row (the other waits for the
     * row lock, re-checks `used_at` and matches nothing).
     */
    async consume(
      executor: TokenExecutor,
      tokenHash: string,
      purpose: string,
    ): Promise<AccountTokenRow | undefined> {
      const [row] = await executor
        .update(accountTokens)
        .set({ usedAt: sql`now()` })
        .where(
          and(
            eq(accountTokens.tokenHash, tokenHash),
            eq(accountTokens.purpose, purpose),
            isNull(accountTokens.usedAt),
            gt(accountTokens.expiresAt, sql`now()`),
          ),
        )
        .returning();
      return row;
    },

    /** The token's row if it could be spent now, without spending it. */
    async findUsable(tokenHash: string, purpose: string): Promise<AccountTokenRow | undefined> {
      const [row] = await db
        .select()
        .from(accountTokens)
        .where(
          and(
            eq(accountTokens.tokenHash, tokenHash),
            eq(accountTokens.purpose, purpose),
            isNull(accountTokens.usedAt),
            gt(accountTokens.expiresAt, sql`now()`),
          ),
        )
        .limit(1);
      return row;
    },

    revokeUnused,

    /** As revokeUnused, on its own (no surrounding transaction). */
    revokeUnusedNow: (userId: number, purposes: string[]) => revokeUnused(db, userId, purposes),

    /** The hourly cleanup: expired tokens, spent or not, serve nothing. */
    async deleteExpired(now: Date): Promise<number> {
      const deleted = await db
        .delete(accountTokens)
        .where(lt(accountTokens.expiresAt, now))
        .returning({ id: accountTokens.id });
      return deleted.length;
    },
  };
}

export type AccountTokensRepository = ReturnType<typeof createAccountTokensRepository>;
