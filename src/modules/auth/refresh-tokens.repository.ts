import { and, desc, eq, gt, isNotNull, isNull, lt, ne, or, sql } from "drizzle-orm";
import type { Db } from "../../platform/database/index.js";
import { type RefreshTokenRow, refreshTokens } from "../../platform/database/schema.js";

// A revoked row is the database's record that its session's access tokens are void; it is
// kept longer than the longest access-token lifetime (ACCESS_TOKEN_TTL_MINUTES ≤ 24 h).
const REVOKED_KEPT_MS = 25 * 60 * 60 * 1000;

/** A session as its owner sees it: one refresh-token family with a token still usable. */
export interface ActiveSession {
  familyId: string;
  createdAt: Date;
  lastUsedAt: Date;
  userAgent: string | null;
  ipAddress: string | null;
}

// Sessions listed per user: far more than anyone uses, few enough to list without paging.
const MAX_LISTED_SESSIONS = 100;

export interface RefreshTokensRepository {
  insert(row: {
    userId: number;
    familyId: string;
    tokenHash: string;
    scope: string;
    expiresAt: Date;
    sessionExpiresAt: Date;
    userAgent: string | null;
    ipAddress: string | null;
  }): Promise<void>;
  findByHash(tokenHash: string): Promise<RefreshTokenRow | undefined>;
  /** Marks the token spent; false when another request spent it first (a replay). */
  spend(id: number): Promise<boolean>;
  revokeFamily(familyId: string): Promise<void>;
  /** Revokes the session only if it is the user's and still active; false otherwise. */
  revokeFamilyOfUser(userId: number, familyId: string): Promise<boolean>;
  /** The user's active sessions (a live refresh token), most recently used first. */
  listActiveSessions(userId: number): Promise<ActiveSession[]>;
  /** Revokes every session of the user except `keepFamilyId` (if given); returns the sessions it ended. */
  revokeAllForUser(userId: number, keepFamilyId?: string): Promise<string[]>;
  /** When a token of the session was last spent (its latest rotation), if ever. */
  lastSpentAt(familyId: string): Promise<Date | undefined>;
  /** True once any token of the session was revoked: the durable record of a revocation. */
  isFamilyRevoked(familyId: string): Promise<boolean>;
  /** Deletes expired tokens, and revoked ones once no access token of theirs can still be alive. */
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
    async revokeFamilyOfUser(userId, familyId) {
      const revoked = await db
        .update(refreshTokens)
        .set({ revokedAt: sql`now()` })
        .where(
          and(
            eq(refreshTokens.userId, userId),
            eq(refreshTokens.familyId, familyId),
            isNull(refreshTokens.revokedAt),
          ),
        )
        .returning({ id: refreshTokens.id });
      return revoked.length > 0;
    },
    async listActiveSessions(userId) {
      // A session is active while its newest token is neither spent, revoked nor expired;
      // each rotation adds a row, so the newest row's creation is the session's last use and
      // the oldest row's its login.
      const live = db
        .select({ familyId: refreshTokens.familyId })
        .from(refreshTokens)
        .where(
          and(
            eq(refreshTokens.userId, userId),
            isNull(refreshTokens.usedAt),
            isNull(refreshTokens.revokedAt),
            gt(refreshTokens.expiresAt, sql`now()`),
          ),
        );
      const rows = await db
        .select({
          familyId: refreshTokens.familyId,
          createdAt: sql<Date | string>`min(${refreshTokens.createdAt})`,
          lastUsedAt: sql<Date | string>`max(${refreshTokens.createdAt})`,
          userAgent: sql<
            string | null
          >`(array_agg(${refreshTokens.userAgent} order by ${refreshTokens.id}))[1]`,
          ipAddress: sql<
            string | null
          >`(array_agg(${refreshTokens.ipAddress} order by ${refreshTokens.id}))[1]`,
        })
        .from(refreshTokens)
        .where(and(eq(refreshTokens.userId, userId), sql`${refreshTokens.familyId} in ${live}`))
        .groupBy(refreshTokens.familyId)
        .having(sql`bool_and(${refreshTokens.revokedAt} is null)`)
        .orderBy(desc(sql`max(${refreshTokens.createdAt})`), refreshTokens.familyId)
        .limit(MAX_LISTED_SESSIONS);
      // node-postgres returns Dates for timestamps inside aggregates; PGlite may return text.
      return rows.map((row) => ({
        ...row,
        createdAt: new Date(row.createdAt),
        lastUsedAt: new Date(row.lastUsedAt),
      }));
    },
    async revokeAllForUser(userId, keepFamilyId) {
      const revoked = await db
        .update(refreshTokens)
        .set({ revokedAt: sql`now()` })
        .where(
          and(
            eq(refreshTokens.userId, userId),
            isNull(refreshTokens.revokedAt),
            keepFamilyId ? ne(refreshTokens.familyId, keepFamilyId) : undefined,
          ),
        )
        .returning({ familyId: refreshTokens.familyId });
      return [...new Set(revoked.map((row) => row.familyId))];
    },
    async lastSpentAt(familyId) {
      const [row] = await db
        .select({ last: sql<Date | string | null>`max(${refreshTokens.usedAt})` })
        .from(refreshTokens)
        .where(eq(refreshTokens.familyId, familyId));
      return row?.last ? new Date(row.last) : undefined;
    },
    async isFamilyRevoked(familyId) {
      const rows = await db
        .select({ id: refreshTokens.id })
        .from(refreshTokens)
        .where(and(eq(refreshTokens.familyId, familyId), isNotNull(refreshTokens.revokedAt)))
        .limit(1);
      return rows.length > 0;
    },
    async deleteExpired(before) {
      const deleted = await db
        .delete(refreshTokens)
        .where(
          or(
            lt(refreshTokens.expiresAt, before),
            lt(refreshTokens.revokedAt, new Date(before.getTime() - REVOKED_KEPT_MS)),
          ),
        )
        .returning({ id: refreshTokens.id });
      return deleted.length;
    },
  };
}
