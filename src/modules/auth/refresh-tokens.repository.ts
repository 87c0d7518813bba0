import { and, eq, isNull, lt, ne, or, sql } from "drizzle-orm";
import type { Db } from "../../platform/database/index.js";
import { type RefreshTokenRow, refreshTokens } from "../../platform/database/schema.js";

export interface RefreshTokensRepository {
  insert(row: {
    userId: number;
    familyId: string;
    tokenHash: string;
    scope: string;
    expiresAt: Date;
  }): Promise<void>;
  findByHash(tokenHash: string): Promise<RefreshTokenRow | undefined>;
  /** Marks the token spent; false when another request spent it first (a replay). */
  spend(id: number): Promise<boolean>;
  revokeFamily(familyId: string): Promise<void>;
  /** Revokes every session of the user except `keepFamilyId` (if given). */
  revokeAllForUser(userId: number, keepFamilyId?: string): Promise<void>;
  deleteExpired(before: Date): Promise<number>;
}

export function createRefreshTokensRepository(db: Db): RefreshTokensRepository {
  return {
    async insert(row) {
      await db.insert(refreshTokens).values(row);
    },
    async findByHash(tokenHash) {
      const [row] = await db
        .select()
        .from(refreshTokens)
        .where(eq(refreshTokens.tokenHash, tokenHash))
        .limit(1);
      return row;
    },
    async spend(id) {
      const spent = await db
        .update(refreshTokens)
        .set({ usedAt: sql`now()` })
        .where(and(eq(refreshTokens.id, id), isNull(refreshTokens.usedAt), isNull(refreshTokens.revokedAt)))
        .returning({ id: refreshTokens.id });
      return spent.length === 1;
    },
    async revokeFamily(familyId) {
      await db
        .update(refreshTokens)
        .set({ revokedAt: sql`now()` })
        .where(and(eq(refreshTokens.familyId, familyId), isNull(refreshTokens.revokedAt)));
    },
    async revokeAllForUser(userId, keepFamilyId) {
      await db
        .update(refreshTokens)
        .set({ revokedAt: sql`now()` })
        .where(
          and(
            eq(refreshTokens.userId, userId),
            isNull(refreshTokens.revokedAt),
            keepFamilyId ? ne(refreshTokens.familyId, keepFamilyId) : undefined,
          ),
        );
    },
    async deleteExpired(before) {
      const deleted = await db
        .delete(refreshTokens)
        .where(or(lt(refreshTokens.expiresAt, before), lt(refreshTokens.revokedAt, before)))
        .returning({ id: refreshTokens.id });
      return deleted.length;
    },
  };
}
