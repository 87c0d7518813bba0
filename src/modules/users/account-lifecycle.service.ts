import { randomBytes } from "node:crypto";
import type { SecurityLog } from "../../http/security-log.js";
import type { RecordJob } from "../../platform/jobs/index.js";
import { violatedUniqueConstraint } from "../../shared/db-errors.js";
import { BadRequestError, ConflictError, NotFoundError } from "../../shared/errors.js";
import type { AccountTokens } from "../auth/account-tokens.js";
import type { AuthStateCache } from "../auth/auth-state.js";
import type { CredentialThrottle } from "../auth/credential-throttle.js";
import { hasPassword, type PasswordHasher } from "../auth/password-hasher.js";
import { assertPasswordAllowed } from "../auth/password-policy.js";
import type { SessionRevocations } from "../auth/session-revocations.js";
import type { AccountLifecycleRepository, EndedSessions } from "./account-lifecycle.repository.js";
import {
  EMAIL_CHANGE_EMAILS_JOB,
  PASSWORD_CHANGED_EMAIL_JOB,
  PASSWORD_RESET_EMAIL_JOB,
  VERIFICATION_EMAIL_JOB,
} from "./account-mail.jobs.js";
import { type AccountMailThrottle, TooManyMailRequestsError } from "./account-mail-throttle.js";
import type { User, UsersRepository } from "./users.repository.js";
import { VOIDED_BY_PASSWORD_CHANGE } from "./users.service.js";

export interface AccountLifecycleDeps {
  repository: AccountLifecycleRepository;
  usersRepository: UsersRepository;
  accountTokens: AccountTokens;
  recordJob: RecordJob;
  passwordHasher: PasswordHasher;
  credentialThrottle: CredentialThrottle;
  mailThrottle: AccountMailThrottle;
  authState: AuthStateCache;
  sessionRevocations: SessionRevocations;
  /** After an account's profile or posts changed: their cached copies go. */
  afterAccountChanged(userId: number, deletedPostIds?: number[]): Promise<void>;
  /** The account's second factor (the MFA module provides it at composition). */
  secondFactor: SecondFactorCheck;
  /** When the caller's session (refresh family) began, while it is live. */
  sessionStartedAt(userId: number, sessionId: string): Promise<Date | undefined>;
}

/** What re-authentication needs of the second factor; the MFA module fills it in. */
export interface SecondFactorCheck {
  isEnabled(userId: number): Promise<boolean>;
  /**
   * Spends a code of the authenticator app (a time step after the last accepted one) or an
   * unused recovery code, under the code throttle (429 past it); false when not accepted.
   */
  spend(userId: number, code: string, context: RequestContext): Promise<boolean>;
}

/**
 * An account with neither a password nor MFA (made by an OpenID Connect sign-in) proves
 * itself by a sign-in this recent: the session it acts in began at most this long ago.
 */
export const FRESH_SIGN_IN_MS = 10 * 60 * 1000;

/** Where a request comes from and how it reports security events. */
export interface RequestContext {
  address: string;
  log: SecurityLog;
}

/**
 * How a user proves, before a dangerous change, that they are who the session says: the
 * current password, or a fresh second-factor code (TOTP or recovery code, spent like at
 * sign-in). A caller that offers more than the password passes `sessionId`: then an account
 * with neither a password nor MFA proves itself by a sign-in within FRESH_SIGN_IN_MS.
 */
export interface Reauthentication {
  currentPassword?: string | undefined;
  code?: string | undefined;
  /** The caller's session; set by callers that accept more than the password. */
  sessionId?: string | undefined;
}

const INVALID_TOKEN = () =>
  new BadRequestError("invalid_token", "This link is invalid, has expired or was already used");

export function createAccountLifecycleService(deps: AccountLifecycleDeps) {
  const { repository, accountTokens, credentialThrottle, passwordHasher } = deps;

  /** After a commit that ended sessions: every instance drops their tokens and closes their sockets. */
  async function announce(ended: EndedSessions, allSessions: boolean): Promise<void> {
    await deps.authState.publish(ended.user.id, {
      tokenVersion: ended.user.tokenVersion,
      isActive: ended.user.isActive,
      role: ended.user.role,
      emailVerified: ended.user.emailVerifiedAt !== null,
    });
    if (allSessions || ended.sessionIds.length > 0)
      await deps.sessionRevocations.revoke({
        userId: ended.user.id,
        sessionIds: ended.sessionIds,
        allSessions,
      });
  }

  /** The current password under the credential throttle (429 past it), as a password change does. */
  async function checkPassword(user: User, currentPassword: string, context: RequestContext, action: string) {
    let valid: boolean;
    try {
      valid = await credentialThrottle.check(
        `user:${user.id}`,
        context.address,
        // An account without a password has none to match (it is never compared with "").
        async () => hasPassword(user) && passwordHasher.verify(user.passwordHash, currentPassword),
      );
    } catch (error) {
      context.log({ event: "auth.throttled", user_id: user.id, ip: context.address });
      throw error;
    }
    if (!valid) {
      context.log({ event: "user.reauthentication.failed", user_id: user.id, action, ip: context.address });
      throw new BadRequestError("invalid_current_password", "current_password is not correct");
    }
  }

  /**
   * Checks the caller's proof (see Reauthentication): a password given is checked, a code
   * given is spent (never accepted twice, throttled like at sign-in), and either suffices.
   * With neither, an account with a password needs it; one without needs a code if it has
   * MFA, and otherwise a sign-in within FRESH_SIGN_IN_MS.
   */
  async function reauthenticate(
    user: User,
    proof: Reauthentication,
    context: RequestContext,
    action: string,
  ) {
    if (proof.currentPassword !== undefined)
      await checkPassword(user, proof.currentPassword, context, action);
    if (proof.code !== undefined) {
      if (!(await deps.secondFactor.isEnabled(user.id)))
        throw new BadRequestError(
          "mfa_not_enabled",
          "Two-factor authentication is not on: use current_password",
        );
      if (!(await deps.secondFactor.spend(user.id, proof.code, context))) {
        context.log({ event: "user.reauthentication.failed", user_id: user.id, action, ip: context.address });
        throw new BadRequestError("invalid_mfa_code", "The code is not valid");
      }
    }
    if (proof.currentPassword !== undefined || proof.code !== undefined) return;
    if (hasPassword(user) || proof.sessionId === undefined)
      throw new BadRequestError("current_password_required", `${action} needs current_password`);
    if (await deps.secondFactor.isEnabled(user.id))
      throw new BadRequestError("mfa_code_required", `${action} needs a code from the authenticator app`);
    const startedAt = await deps.sessionStartedAt(user.id, proof.sessionId);
    if (startedAt !== undefined && Date.now() - startedAt.getTime() <= FRESH_SIGN_IN_MS) return;
    context.log({ event: "user.reauthentication.failed", user_id: user.id, action, ip: context.address });
    throw new BadRequestError(
      "fresh_sign_in_required",
      `${action} needs a recent sign-in: sign in with your provider again, then retry within ${FRESH_SIGN_IN_MS / 60_000} minutes`,
    );
  }

  /**
   * A public request that may mail an account: throttled per client address (429), then per
   * account silently; the job does the lookup. Equal work whether the address is registered
   * or not (two counter increments and one insert), so status, body and time say nothing.
   */
  async function requestAccountMail(kind: string, job: string, email: string, context: RequestContext) {
    const normalized = email.trim();
    try {
      if (!(await deps.mailThrottle.admit(kind, normalized, context.address))) {
        context.log({ event: "account.mail.suppressed", kind, ip: context.address });
        return;
      }
    } catch (error) {
      context.log({ event: "rate_limit.exceeded", limit: `account_mail:${kind}`, ip: context.address });
      throw error;
    }
    await deps.recordJob(repository.db, { name: job, data: { email: normalized } });
    context.log({ event: "account.mail.requested", kind, ip: context.address });
  }

  return {
    async verifyEmail(token: string, context: RequestContext): Promise<void> {
      const user = await repository.transaction(async (tx) => {
        const row = await accountTokens.consume(tx, token, "email_verification", context);
        if (!row?.email) throw INVALID_TOKEN();
        // Rolls the spending back too: a link to an address the account no longer has is void.
        const verified = await repository.markEmailVerified(tx, row.userId, row.email);
        if (!verified) throw INVALID_TOKEN();
        return verified;
      });
      await announce({ user, sessionIds: [] }, false);
      await deps.afterAccountChanged(user.id);
      context.log({ event: "user.email_verified", user_id: user.id });
    },

    resendVerification: (email: string, context: RequestContext) =>
      requestAccountMail("verification", VERIFICATION_EMAIL_JOB, email, context),

    requestPasswordReset: (email: string, context: RequestContext) =>
      requestAccountMail("password_reset", PASSWORD_RESET_EMAIL_JOB, email, context),

    /**
     * The token is checked first (without spending it) so a weak password is refused while
     * the link still works, and the slow hash runs outside any transaction; then one
     * transaction spends it, sets the password, ends every session and records the notice.
     */
    async confirmPasswordReset(token: string, password: string, context: RequestContext): Promise<void> {
      const pending = await accountTokens.check(token, "password_reset", context);
      if (!pending) throw INVALID_TOKEN();
      const user = await deps.usersRepository.findById(pending.userId);
      if (!user || user.deletedAt !== null) throw INVALID_TOKEN();
      // A link mailed to an address the account no longer has proves nothing now.
      if (!sameAddress(pending.email, user.email)) throw INVALID_TOKEN();
      assertPasswordAllowed(password, user);
      const passwordHash = await passwordHasher.hash(password);
      const ended = await repository.transaction(async (tx) => {
        const row = await accountTokens.consume(tx, token, "password_reset", context);
        if (!row) throw INVALID_TOKEN();
        if (!row.email) throw INVALID_TOKEN();
        const result = await repository.resetPassword(tx, row.userId, row.email, passwordHash);
        if (!result) throw INVALID_TOKEN();
        // Any other reset link still in a mailbox dies with this one, and so does any pending
        // email change or verification: whoever had the old password (the reason for a reset,
        // often) may have asked for them, and a change confirmed later would hand them the account.
        await accountTokens.revokeUnused(tx, row.userId, [...VOIDED_BY_PASSWORD_CHANGE]);
        await deps.recordJob(tx, {
          name: PASSWORD_CHANGED_EMAIL_JOB,
          data: { user_id: row.userId, at: new Date().toISOString() },
        });
        return result;
      });
      await announce(ended, true);
      // The owner proved control of the mailbox: earlier failed guesses no longer count against them.
      await credentialThrottle.recordSuccess(`user:${ended.user.id}`, context.address);
      context.log({
        event: "user.password_reset",
        user_id: ended.user.id,
        sessions_ended: ended.sessionIds.length,
      });
    },

    /**
     * Starts a change of address (PATCH /users/me with `email`): re-authenticates, then
     * records the job that mails the new address a confirmation and the old one a notice.
     * Nothing changes yet, and whether the new address is taken is only checked on
     * confirmation, so this answers the same for any address (no enumeration).
     */
    async requestEmailChange(
      userId: number,
      newEmail: string,
      proof: Reauthentication,
      context: RequestContext,
      /**
       * Runs once the proof is checked, before the change is recorded: a password change in
       * the same request goes here, so the change counts as asked for under the new password
       * (a change asked for before a password change is void).
       */
      beforeRecording?: () => Promise<void>,
    ) {
      const user = await deps.usersRepository.findById(userId);
      if (!user) throw new NotFoundError(`User ${userId} not found`, "user_not_found");
      await reauthenticate(user, proof, context, "Changing the email");
      const email = newEmail.trim();
      if (email.toLowerCase() === user.email.toLowerCase())
        throw new BadRequestError("email_unchanged", "This is already the account's email");
      try {
        if (!(await deps.mailThrottle.admit("email_change", `user:${userId}`, context.address)))
          throw new TooManyMailRequestsError(3600);
      } catch (error) {
        context.log({ event: "rate_limit.exceeded", limit: "account_mail:email_change", user_id: userId });
        throw error;
      }
      await beforeRecording?.();
      await deps.recordJob(repository.db, {
        name: EMAIL_CHANGE_EMAILS_JOB,
        data: { user_id: userId, new_email: email, requested_at: new Date().toISOString() },
      });
      context.log({ event: "user.email_change.requested", user_id: userId });
    },

    /** The new address confirms: the change applies now, unless another account has the address (409). */
    async confirmEmailChange(token: string, context: RequestContext): Promise<void> {
      let user: User;
      try {
        user = await repository.transaction(async (tx) => {
          const row = await accountTokens.consume(tx, token, "email_change", context);
          if (!row?.email) throw INVALID_TOKEN();
          const owner = await repository.lockLiveUser(tx, row.userId);
          if (!owner) throw INVALID_TOKEN();
          // Asked for before the password last changed: possibly by whoever the change
          // (or reset) was meant to lock out. To the millisecond (as both times are read), so
          // a change asked for in the request that changed the password stays valid.
          if (owner.passwordChangedAt !== null && row.createdAt < owner.passwordChangedAt)
            throw INVALID_TOKEN();
          if (await repository.emailTakenByOther(tx, row.userId, row.email)) throw EMAIL_TAKEN();
          // Links mailed to the old address (a reset, another change) die with it.
          await accountTokens.revokeUnused(tx, row.userId, [...VOIDED_BY_EMAIL_CHANGE]);
          return (await repository.setVerifiedEmail(tx, row.userId, row.email, false)).user;
        });
      } catch (error) {
        // Two confirmations racing for one address: the unique index decides.
        if (violatedUniqueConstraint(error) === "users_email_lower_key") throw EMAIL_TAKEN();
        throw error;
      }
      await announce({ user, sessionIds: [] }, false);
      await deps.afterAccountChanged(user.id);
      context.log({ event: "user.email_changed", user_id: user.id });
    },

    /**
     * The old address says "not me": pending changes die and, if the change was already
     * confirmed, the old address comes back and every session ends — the account may be in
     * someone else's hands, and its owner should now reset the password.
     */
    async cancelEmailChange(token: string, context: RequestContext): Promise<void> {
      let outcome: { ended: EndedSessions | undefined; userId: number };
      try {
        outcome = await repository.transaction(async (tx) => {
          const row = await accountTokens.consume(tx, token, "email_change_cancel", context);
          if (!row?.email) throw INVALID_TOKEN();
          const user = await repository.lockLiveUser(tx, row.userId);
          if (!user) throw INVALID_TOKEN();
          await accountTokens.revokeUnused(tx, user.id, ["email_change"]);
          if (user.email.toLowerCase() === row.email.toLowerCase())
            return { ended: undefined, userId: user.id };
          if (await repository.emailTakenByOther(tx, user.id, row.email)) throw EMAIL_TAKEN();
          // Links mailed to the address being undone (a reset the intruder asked for) die.
          await accountTokens.revokeUnused(tx, user.id, [...VOIDED_BY_EMAIL_CHANGE]);
          return { ended: await repository.setVerifiedEmail(tx, user.id, row.email, true), userId: user.id };
        });
      } catch (error) {
        if (violatedUniqueConstraint(error) === "users_email_lower_key") throw EMAIL_TAKEN();
        throw error;
      }
      if (outcome.ended) {
        await announce(outcome.ended, true);
        await deps.afterAccountChanged(outcome.userId);
      }
      context.log({
        event: "user.email_change.cancelled",
        user_id: outcome.userId,
        restored: outcome.ended !== undefined,
      });
    },

    /**
     * Deletes the caller's account after re-authentication: see the repository for what
     * happens to posts, files, sessions and the ledger. The last active admin cannot go.
     */
    async deleteAccount(userId: number, proof: Reauthentication, context: RequestContext): Promise<void> {
      const user = await deps.usersRepository.findById(userId);
      if (!user || user.deletedAt !== null)
        throw new NotFoundError(`User ${userId} not found`, "user_not_found");
      await reauthenticate(user, proof, context, "Deleting the account");
      // A hash of a password nobody knows: logins against the row cost the same as any other.
      const unusable = await passwordHasher.hash(randomBytes(32).toString("base64url"));
      let result: Awaited<ReturnType<typeof repository.deleteAccount>>;
      try {
        result = await repository.transaction(async (tx) => {
          const locked = await repository.lockLiveUser(tx, userId);
          if (!locked) throw new NotFoundError(`User ${userId} not found`, "user_not_found");
          if (await repository.isLastActiveAdmin(tx, locked))
            throw new ConflictError(
              "last_admin",
              "The last active admin cannot delete the account: make another user an admin first",
            );
          return repository.deleteAccount(tx, locked, unusable);
        });
      } catch (error) {
        // The anonymised names cannot be registered, but should one ever collide the
        // deletion is refused as a conflict, never a server error; nothing was changed.
        if (violatedUniqueConstraint(error) !== undefined)
          throw new ConflictError("deletion_conflict", "The account could not be deleted now; try again");
        throw error;
      }
      await announce(result, true);
      await deps.afterAccountChanged(userId, result.postIds);
      context.log({ event: "user.deleted", user_id: userId, posts_deleted: result.postIds.length });
    },
  };
}

/** What an email change voids: every link mailed to the address the account leaves. */
const VOIDED_BY_EMAIL_CHANGE = ["password_reset", "email_change", "email_verification"] as const;

const sameAddress = (a: string | null, b: string) => a !== null && a.toLowerCase() === b.toLowerCase();

const EMAIL_TAKEN = () => new ConflictError("email_taken", "Email already registered to another account");

export type AccountLifecycleService = ReturnType<typeof createAccountLifecycleService>;
