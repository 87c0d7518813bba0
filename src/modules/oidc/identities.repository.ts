import { and, asc, count, eq, sql } from "drizzle-orm";
import type { Db } from "../../platform/database/index.js";
import { type UserIdentityRow, userIdentities, users } from "../../platform/database/schema.js";

export interface IdentitiesRepository {
  find(provider: string, subject: string): Promise<UserIdentityRow | undefined>;
  /** Links; false when that provider account is already linked (to anyone). */
  link(row: { userId: number; provider: string; subject: string; email: string | null }): Promise<boolean>;
  touch(id: number, email: string | null): Promise<void>;
  listForUser(userId: number): Promise<UserIdentityRow[]>;
  countForUser(userId: number): Promise<number>;
  /**
   * Removes one of the user's links only while another way to log in remains (a password or
   * another link): `last` when it is the only one, `not_found` when the user has no such link.
   */
  unlink(userId: number, id: number): Promise<"unlinked" | "last" | "not_found">;
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
      return db.transaction(async (tx) => {
        // The account's row lock orders every unlink (and password change) of this user: two
        // unlinks of its last two links cannot both see the other link still there. The
        // DELETE runs after the lock is held, so (READ COMMITTED) it sees what the other committed.
        await tx.select({ id: users.id }).from(users).where(eq(users.id, userId)).for("update");
        const removed = await tx
          .delete(userIdentities)
          .where(
            and(
              eq(userIdentities.userId, userId),
              eq(userIdentities.id, id),
              sql`(exists (select 1 from ${users} where ${users.id} = ${userId} and ${users.passwordHash} <> '')
                or exists (select 1 from ${userIdentities} other where other.user_id = ${userId} and other.id <> ${id}))`,
            ),
          )
          .returning({ id: userIdentities.id });
        if (removed.length === 1) return "unlinked";
        const [mine] = await tx
          .select({ id: userIdentities.id })
          .from(userIdentities)
          .where(and(eq(userIdentities.userId, userId), eq(userIdentities.id, id)))
          .limit(1);
        return mine ? "last" : "not_found";
      });
    },
  };
}
