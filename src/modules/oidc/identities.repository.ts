import { and, asc, count, eq, sql } from "drizzle-orm";
import type { Db } from "../../platform/database/index.js";
import { type UserIdentityRow, userIdentities } from "../../platform/database/schema.js";

export interface IdentitiesRepository {
  find(provider: string, subject: string): Promise<UserIdentityRow | undefined>;
  /** Links; false when that provider account is already linked (to anyone). */
  link(row: { userId: number; provider: string; subject: string; email: string | null }): Promise<boolean>;
  touch(id: number, email: string | null): Promise<void>;
  listForUser(userId: number): Promise<UserIdentityRow[]>;
  countForUser(userId: number): Promise<number>;
  /** Removes one of the user's links; false when the user has no such link. */
  unlink(userId: number, id: number): Promise<boolean>;
}

export function createIdentitiesRepository(db: Db): IdentitiesRepository {
  return {
    async find(provider, subject) {
      const [row] = await db
        .select()
        .from(userIdentities)
        .where(and(eq(userIdentities.provider, provider), eq(userIdentities.subject, subject)))
        .limit(1);
      return row;
    },
    async link(row) {
      const inserted = await db
        .insert(userIdentities)
        .values({ ...row, lastLoginAt: sql`now()` })
        .onConflictDoNothing()
        .returning({ id: userIdentities.id });
      return inserted.length === 1;
    },
    async touch(id, email) {
      await db
        .update(userIdentities)
        .set({ lastLoginAt: sql`now()`, email })
        .where(eq(userIdentities.id, id));
    },
    async listForUser(userId) {
      return db
        .select()
        .from(userIdentities)
        .where(eq(userIdentities.userId, userId))
        .orderBy(asc(userIdentities.id));
    },
    async countForUser(userId) {
      const [row] = await db
        .select({ n: count() })
        .from(userIdentities)
        .where(eq(userIdentities.userId, userId));
      return Number(row?.n ?? 0);
    },
    async unlink(userId, id) {
      const removed = await db
        .delete(userIdentities)
        .where(and(eq(userIdentities.userId, userId), eq(userIdentities.id, id)))
        .returning({ id: userIdentities.id });
      return removed.length === 1;
    },
  };
}
