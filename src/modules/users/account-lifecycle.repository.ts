import { randomBytes } from "node:crypto";
import { and, eq, isNull, ne, sql } from "drizzle-orm";
import type { Db } from "../../platform/database/index.js";
import {
  accountTokens,
  files,
  posts,
  refreshTokens,
  userMfa,
  users,
} from "../../platform/database/schema.js";
import { recordEvent } from "../../platform/events/outbox.js";
import type { RecordJob } from "../../platform/jobs/index.js";
import { DELETE_FILE_OBJECTS_JOB } from "../files/delete-objects.job.js";
import { thumbnailKeyOf } from "../files/thumbnail.job.js";
import type { User } from "./users.repository.js";

export type Transaction = Parameters<Parameters<Db["transaction"]>[0]>[0];

/** What an account-wide change ended: the sessions whose access tokens must die everywhere. */
export interface EndedSessions {
  user: User;
  sessionIds: string[];
}

/**
 * The account-wide writes of the lifecycle flows. Each runs inside the caller's transaction
 * (the one that spent the token authorising it), so a token is spent exactly when its change
 * commits, and sessions are revoked in that same commit.
 */
export function createAccountLifecycleRepository(db: Db, recordJob: RecordJob) {
  /** The user's row, locked against concurrent lifecycle changes; deleted accounts are absent. */
  async function lockLiveUser(tx: Transaction, userId: number): Promise<User | undefined> {
    const [row] = await tx
      .select()
      .from(users)
      .where(and(eq(users.id, userId), isNull(users.deletedAt)))
      .for("update");
    return row;
  }

  /** Revokes every refresh-token family of the user; the revoked rows are the durable revocation record. */
  async function revokeAllSessions(tx: Transaction, userId: number): Promise<string[]> {
    const revoked = await tx
      .update(refreshTokens)
      .set({ revokedAt: sql`now()` })
      .where(and(eq(refreshTokens.userId, userId), isNull(refreshTokens.revokedAt)))
      .returning({ familyId: refreshTokens.familyId });
    return [...new Set(revoked.map((row) => row.familyId))];
  }

  return {
    /** For recording a job outside any transaction (a single insert is atomic by itself). */
    db,
    transaction: <T>(work: (tx: Transaction) => Promise<T>) => db.transaction(work),
    lockLiveUser,

    /** Marks the email verified if it is still `email` (a link for an earlier address proves nothing now). */
    async markEmailVerified(tx: Transaction, userId: number, email: string): Promise<User | undefined> {
      const [row] = await tx
        .update(users)
        .set({ emailVerifiedAt: sql`now()`, updatedAt: sql`now()` })
        .where(
          and(eq(users.id, userId), isNull(users.deletedAt), sql`lower(${users.email}) = lower(${email})`),
        )
        .returning();
      return row;
    },

    /**
     * The new password, if the account's email is still `email` (the address the reset link
     * went to, any case); every access token (version bump) and every session end.
     */
    async resetPassword(
      tx: Transaction,
      userId: number,
      email: string,
      passwordHash: string,
    ): Promise<EndedSessions | undefined> {
      const [user] = await tx
        .update(users)
        .set({
          passwordHash,
          passwordChangedAt: sql`now()`,
          tokenVersion: sql`${users.tokenVersion} + 1`,
          updatedAt: sql`now()`,
        })
        .where(
          and(eq(users.id, userId), isNull(users.deletedAt), sql`lower(${users.email}) = lower(${email})`),
        )
        .returning();
      if (!user) return undefined;
      // Proving the mailbox is the way back from a second factor locked by wrong codes.
      await tx
        .update(userMfa)
        .set({ failedAttempts: 0, lockedUntil: null })
        .where(eq(userMfa.userId, userId));
      return { user, sessionIds: await revokeAllSessions(tx, userId) };
    },

    /**
     * Sets the address (proven by the link just spent). With `endSessions` (a cancel that
     * undoes a change: the account may be in someone else's hands) every session ends too.
     * A unique violation (someone else has the address now) aborts the transaction.
     */
    async setVerifiedEmail(
      tx: Transaction,
      userId: number,
      email: string,
      endSessions: boolean,
    ): Promise<EndedSessions> {
      const [user] = await tx
        .update(users)
        .set({
          email,
          emailVerifiedAt: sql`now()`,
          updatedAt: sql`now()`,
          ...(endSessions ? { tokenVersion: sql`${users.tokenVersion} + 1` } : {}),
        })
        .where(eq(users.id, userId))
        .returning();
      if (!user) throw new Error(`user ${userId} vanished while locked`);
      return { user, sessionIds: endSessions ? await revokeAllSessions(tx, userId) : [] };
    },

    /** Whether another active account than `userId` holds `email` (any case). */
    async emailTakenByOther(tx: Transaction, userId: number, email: string): Promise<boolean> {
      const [row] = await tx
        .select({ id: users.id })
        .from(users)
        .where(and(ne(users.id, userId), sql`lower(${users.email}) = lower(${email})`))
        .limit(1);
      return row !== undefined;
    },

    /** True when no other active admin exists: deleting this admin would leave none. */
    async isLastActiveAdmin(tx: Transaction, user: User): Promise<boolean> {
      if (user.role !== "admin" || !user.isActive) return false;
      const admins = await tx
        .select({ id: users.id })
        .from(users)
        .where(and(eq(users.role, "admin"), eq(users.isActive, true)))
        .for("update");
      return admins.every((admin) => admin.id === user.id);
    },

    /**
     * Deletes the account's content and anonymises its row (locked by the caller):
     * - posts are deleted, each announced as post.deleted;
     * - file rows are deleted, and one job removes their bytes after the commit;
     * - sessions are revoked, account tokens deleted;
     * - the row stays as `deleted~<random>` (inactive, unusable password, no email anyone can
     *   reach) because transfers and ledger entries reference it: money history is never
     *   deleted, and the balance stays with the anonymised holder, so every total still sums.
     */
    async deleteAccount(
      tx: Transaction,
      user: User,
      unusablePasswordHash: string,
    ): Promise<EndedSessions & { postIds: number[] }> {
      const deletedPosts = await tx
        .delete(posts)
        .where(eq(posts.authorId, user.id))
        .returning({ id: posts.id });
      for (const post of deletedPosts)
        await recordEvent(tx, { topic: "post.deleted", userId: null, payload: { id: post.id } });
      const deletedFiles = await tx.delete(files).where(eq(files.ownerId, user.id)).returning();
      // Removing the bytes is idempotent and may take long: one job after the commit, never in it.
      if (deletedFiles.length > 0) {
        await recordJob(tx, {
          name: DELETE_FILE_OBJECTS_JOB,
          data: { keys: deletedFiles.flatMap((file) => [file.storageKey, thumbnailKeyOf(file)]) },
        });
      }
      const sessionIds = await revokeAllSessions(tx, user.id);
      await tx.delete(accountTokens).where(eq(accountTokens.userId, user.id));
      // Names nobody can register, so nobody can block a deletion by taking them first: `~` is
      // outside the username pattern and `:` outside the email format (sign-up, email change),
      // and 96 random bits keep two deleted accounts apart.
      const anonymous = randomBytes(12).toString("base64url");
      const [anonymised] = await tx
        .update(users)
        .set({
          email: `deleted:${anonymous}@deleted.invalid`,
          username: `deleted~${anonymous}`,
          passwordHash: unusablePasswordHash,
          role: "user",
          isActive: false,
          emailVerifiedAt: null,
          deletedAt: sql`now()`,
          tokenVersion: sql`${users.tokenVersion} + 1`,
          updatedAt: sql`now()`,
        })
        .where(eq(users.id, user.id))
        .returning();
      if (!anonymised) throw new Error(`user ${user.id} vanished while locked`);
      return { user: anonymised, sessionIds, postIds: deletedPosts.map((post) => post.id) };
    },
  };
}

export type AccountLifecycleRepository = ReturnType<typeof createAccountLifecycleRepository>;
