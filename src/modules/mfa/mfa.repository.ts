import { and, count, eq, isNotNull, isNull, lt, or, sql } from "drizzle-orm";
import type { Db } from "../../platform/database/index.js";
import { mfaRecoveryCodes, type UserMfaRow, userMfa } from "../../platform/database/schema.js";

export interface MfaRepository {
  find(userId: number): Promise<UserMfaRow | undefined>;
  isEnabled(userId: number): Promise<boolean>;
  /** Starts (or restarts) an enrolment; refused (false) while MFA is enabled. */
  savePending(userId: number, sealedSecret: string): Promise<boolean>;
  /**
   * Enables a pending enrolment with the step of its first code and replaces the recovery
   * codes, in one transaction; false when there was no pending enrolment (a race, a replay).
   */
  enable(userId: number, step: number, recoveryCodeHashes: string[]): Promise<boolean>;
  /**
   * Accepts a code of `step`: only when MFA is enabled and `step` is later than the last
   * accepted one. One conditional UPDATE, so of two requests with one code only one wins.
   */
  acceptStep(userId: number, step: number): Promise<boolean>;
  /** Spends an unused recovery code of an enabled user; false when there is none. */
  spendRecoveryCode(userId: number, codeHash: string): Promise<boolean>;
  unusedRecoveryCodes(userId: number): Promise<number>;
  /** Removes the authenticator and the recovery codes; false when there was nothing. */
  remove(userId: number): Promise<boolean>;
  /**
   * Takes one second-factor attempt of an enabled user, counted as a failure until
   * `succeeded` clears it: "ok" and the attempt is counted (locking the account per
   * `lockFor(failures)` in the same statement), "locked" with the milliseconds left,
   * "disabled" at `hardLimit` failures, "off" when MFA is not on. One conditional UPDATE, so
   * concurrent guesses cannot slip past a lock.
   */
  takeAttempt(
    userId: number,
    policy: { freeAttempts: number; baseLockSeconds: number; maxLockSeconds: number; hardLimit: number },
  ): Promise<
    { outcome: "ok" } | { outcome: "locked"; retryAfterMs: number } | { outcome: "disabled" | "off" }
  >;
  /** A correct second factor: the failures in a row start over. */
  succeeded(userId: number): Promise<void>;
}

export function createMfaRepository(db: Db): MfaRepository {
  return {
    async takeAttempt(userId, policy) {
      const taken = await db
        .update(userMfa)
        .set({
          failedAttempts: sql`${userMfa.failedAttempts} + 1`,
          lockedUntil: sql`case when ${userMfa.failedAttempts} + 1 >= ${policy.freeAttempts}
            then now() + make_interval(secs => least(${policy.baseLockSeconds}::float8 * power(2::float8, (${userMfa.failedAttempts} + 1 - ${policy.freeAttempts})::float8), ${policy.maxLockSeconds}::float8))
            else null end`,
        })
        .where(
          and(
            eq(userMfa.userId, userId),
            isNotNull(userMfa.enabledAt),
            lt(userMfa.failedAttempts, policy.hardLimit),
            or(isNull(userMfa.lockedUntil), sql`${userMfa.lockedUntil} <= now()`),
          ),
        )
        .returning({ userId: userMfa.userId });
      if (taken.length === 1) return { outcome: "ok" };
      const [row] = await db
        .select({
          enabledAt: userMfa.enabledAt,
          failedAttempts: userMfa.failedAttempts,
          retryAfterMs: sql<number>`greatest(0, extract(epoch from (${userMfa.lockedUntil} - now())) * 1000)::float8`,
        })
        .from(userMfa)
        .where(eq(userMfa.userId, userId))
        .limit(1);
      if (!row?.enabledAt) return { outcome: "off" };
      if (row.failedAttempts >= policy.hardLimit) return { outcome: "disabled" };
      return { outcome: "locked", retryAfterMs: Math.max(1_000, Number(row.retryAfterMs)) };
    },
    async succeeded(userId) {
      await db
        .update(userMfa)
        .set({ failedAttempts: 0, lockedUntil: null })
        .where(and(eq(userMfa.userId, userId), sql`${userMfa.failedAttempts} > 0`));
    },
    async find(userId) {
      const [row] = await db.select().from(userMfa).where(eq(userMfa.userId, userId)).limit(1);
      return row;
    },
    async isEnabled(userId) {
      const rows = await db
        .select({ userId: userMfa.userId })
        .from(userMfa)
        .where(and(eq(userMfa.userId, userId), isNotNull(userMfa.enabledAt)))
        .limit(1);
      return rows.length > 0;
    },
    async savePending(userId, sealedSecret) {
      const saved = await db
        .insert(userMfa)
        .values({ userId, totpSecret: sealedSecret })
        .onConflictDoUpdate({
          target: userMfa.userId,
          set: { totpSecret: sealedSecret, lastUsedStep: null, createdAt: sql`now()` },
          setWhere: isNull(userMfa.enabledAt),
        })
        .returning({ userId: userMfa.userId });
      return saved.length === 1;
    },
    async enable(userId, step, recoveryCodeHashes) {
      return db.transaction(async (tx) => {
        const enabled = await tx
          .update(userMfa)
          .set({ enabledAt: sql`now()`, lastUsedStep: step })
          .where(and(eq(userMfa.userId, userId), isNull(userMfa.enabledAt)))
          .returning({ userId: userMfa.userId });
        if (enabled.length !== 1) return false;
        await tx.delete(mfaRecoveryCodes).where(eq(mfaRecoveryCodes.userId, userId));
        await tx
          .insert(mfaRecoveryCodes)
          .values(recoveryCodeHashes.map((codeHash) => ({ userId, codeHash })));
        return true;
      });
    },
    async acceptStep(userId, step) {
      const accepted = await db
        .update(userMfa)
        .set({ lastUsedStep: step })
        .where(
          and(
            eq(userMfa.userId, userId),
            isNotNull(userMfa.enabledAt),
            or(isNull(userMfa.lastUsedStep), lt(userMfa.lastUsedStep, step)),
          ),
        )
        .returning({ userId: userMfa.userId });
      return accepted.length === 1;
    },
    async spendRecoveryCode(userId, codeHash) {
      const spent = await db
        .update(mfaRecoveryCodes)
        .set({ usedAt: sql`now()` })
        .where(
          and(
            eq(mfaRecoveryCodes.userId, userId),
            eq(mfaRecoveryCodes.codeHash, codeHash),
            isNull(mfaRecoveryCodes.usedAt),
            sql`exists (select 1 from ${userMfa} where ${userMfa.userId} = ${userId} and ${userMfa.enabledAt} is not null)`,
          ),
        )
        .returning({ id: mfaRecoveryCodes.id });
      return spent.length === 1;
    },
    async unusedRecoveryCodes(userId) {
      const [row] = await db
        .select({ n: count() })
        .from(mfaRecoveryCodes)
        .where(and(eq(mfaRecoveryCodes.userId, userId), isNull(mfaRecoveryCodes.usedAt)));
      return Number(row?.n ?? 0);
    },
    async remove(userId) {
      return db.transaction(async (tx) => {
        await tx.delete(mfaRecoveryCodes).where(eq(mfaRecoveryCodes.userId, userId));
        const removed = await tx
          .delete(userMfa)
          .where(eq(userMfa.userId, userId))
          .returning({ userId: userMfa.userId });
        return removed.length === 1;
      });
    },
  };
}
