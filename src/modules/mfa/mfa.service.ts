import type { SecurityLog } from "../../http/security-log.js";
import { clientAddressKey } from "../../shared/client-address.js";
import {
  BadRequestError,
  ConflictError,
  ForbiddenError,
  NotFoundError,
  UnauthorizedError,
} from "../../shared/errors.js";
import type { AuthService, TokenPair } from "../auth/auth.service.js";
import { type CredentialThrottle, TooManyAttemptsError } from "../auth/credential-throttle.js";
import { hasPassword, type PasswordHasher } from "../auth/password-hasher.js";
import type { PendingSignIns } from "../auth/pending-sign-ins.js";
import type { RefreshTokensRepository } from "../auth/refresh-tokens.repository.js";
import type { SessionRevocations } from "../auth/session-revocations.js";
import type { MfaRepository } from "./mfa.repository.js";
import { hashRecoveryCode, newRecoveryCodes, normalizeRecoveryCode } from "./recovery-codes.js";
import type { SecretBox } from "./secret-box.js";
import { matchingStep, newTotpSecret, totpUri } from "./totp.js";

/** What MFA reads of an account (the users repository provides it). */
export interface MfaAccounts {
  findById(
    id: number,
  ): Promise<{ id: number; username: string; passwordHash: string; isActive: boolean } | undefined>;
}

export interface MfaServiceDeps {
  mfaRepository: MfaRepository;
  secretBox: SecretBox;
  accounts: MfaAccounts;
  passwordHasher: PasswordHasher;
  credentialThrottle: CredentialThrottle;
  pendingSignIns: PendingSignIns;
  authService: Pick<AuthService, "finishSignIn">;
  /** Turning MFA on or off ends the user's other sessions; an admin reset ends them all. */
  refreshTokensRepository: Pick<RefreshTokensRepository, "revokeAllForUser">;
  sessionRevocations: Pick<SessionRevocations, "revoke">;
}

export type Factor = "totp" | "recovery_code";

const INVALID_CODE = () => new BadRequestError("invalid_mfa_code", "The code is not valid");
const INVALID_PENDING = () =>
  new UnauthorizedError("The sign-in expired or is no longer valid; log in again", "invalid_mfa_token");
// Codes are throttled per account under their own name: failures of one factor do not count
// against the other (NIST SP 800-63B counts attempts per authenticator).
const throttleKey = (userId: number) => `mfa:${userId}`;

/**
 * The per-account count of wrong second factors in a row, kept in the database: it holds
 * whatever the addresses, the instances or the cache, and only a correct code (or a password
 * reset, or an admin's reset) clears it — never a password login. The first 5 attempts are
 * free (the address throttles still apply); from the 5th, the account waits 30 s × 2^(n−5),
 * at most 15 minutes, before the next attempt is even looked at; at 100 wrong codes in a row
 * (NIST SP 800-63B's ceiling) the factor is refused outright, every pending sign-in with it,
 * until a password reset or an admin's MFA reset.
 */
export const MFA_FAILURE_POLICY = {
  freeAttempts: 5,
  baseLockSeconds: 30,
  maxLockSeconds: 15 * 60,
  hardLimit: 100,
} as const;

const MFA_LOCKED = () =>
  new ForbiddenError(
    "Too many wrong codes in a row: two-factor sign-in is locked. Reset your password, or ask an admin to reset your two-factor authentication",
    "mfa_locked",
  );

export function createMfaService(deps: MfaServiceDeps) {
  const { mfaRepository, secretBox, accounts, credentialThrottle } = deps;

  /**
   * Ends the user's sessions but `keep` (all of them without it): their refresh tokens in
   * the database, then their access tokens and sockets on every instance. A second factor
   * that changes applies to every session: those signed in under the old rule go.
   */
  async function endSessions(userId: number, keep: string | undefined): Promise<number> {
    const ended = await deps.refreshTokensRepository.revokeAllForUser(userId, keep);
    if (ended.length > 0)
      await deps.sessionRevocations.revoke({ userId, sessionIds: ended, allSessions: false });
    return ended.length;
  }

  /**
   * Re-authentication before changing a factor (ASVS 7.5.1): the current password, under the
   * password throttle. An account without a password (made by an OpenID Connect sign-in) has
   * only the code to show.
   */
  async function checkCurrentPassword(userId: number, password: string | undefined, address: string) {
    const user = await accounts.findById(userId);
    if (!user) throw new NotFoundError("No such user", "user_not_found");
    if (!hasPassword(user)) return user;
    if (password === undefined)
      throw new BadRequestError("current_password_required", "This change needs current_password");
    const valid = await credentialThrottle.check(`user:${userId}`, address, () =>
      deps.passwordHasher.verify(user.passwordHash, password),
    );
    if (!valid) throw new BadRequestError("invalid_current_password", "current_password is not correct");
    return user;
  }

  /** Spends a code of an enabled user: a TOTP step later than the last, or an unused recovery code. */
  async function spendCode(userId: number, code: string): Promise<Factor | undefined> {
    const row = await mfaRepository.find(userId);
    if (!row?.enabledAt) return undefined;
    const digits = code.replace(/\s/g, "");
    if (/^\d{6}$/.test(digits)) {
      const secret = secretBox.open(row.totpSecret);
      const step = secret === undefined ? undefined : matchingStep(secret, digits);
      return step !== undefined && (await mfaRepository.acceptStep(userId, step)) ? "totp" : undefined;
    }
    const recovery = normalizeRecoveryCode(code);
    if (recovery === undefined) return undefined;
    return (await mfaRepository.spendRecoveryCode(userId, hashRecoveryCode(recovery)))
      ? "recovery_code"
      : undefined;
  }

  /**
   * A code checked under the throttles: 429 once throttled (per address, or the account's
   * own lock), 403 `mfa_locked` at the hard limit; failures counted.
   */
  async function throttledSpend(userId: number, code: string, address: string, log: SecurityLog) {
    try {
      await credentialThrottle.assertAllowed(throttleKey(userId), address);
    } catch (error) {
      log({ event: "auth.throttled", user_id: userId, ip: address, factor: "mfa" });
      throw error;
    }
    const attempt = await mfaRepository.takeAttempt(userId, MFA_FAILURE_POLICY);
    if (attempt.outcome === "locked") {
      log({ event: "auth.throttled", user_id: userId, ip: address, factor: "mfa", scope: "account" });
      throw new TooManyAttemptsError(Math.ceil(attempt.retryAfterMs / 1000));
    }
    if (attempt.outcome === "disabled") {
      log({ event: "mfa.locked", user_id: userId, ip: address });
      throw MFA_LOCKED();
    }
    const factor = await spendCode(userId, code);
    if (factor) {
      await mfaRepository.succeeded(userId);
      await credentialThrottle.recordSuccess(throttleKey(userId), address);
      if (factor === "recovery_code")
        log({
          event: "mfa.recovery_code.used",
          user_id: userId,
          remaining: await mfaRepository.unusedRecoveryCodes(userId),
        });
    } else {
      await credentialThrottle.recordFailure(throttleKey(userId), address);
      log({ event: "mfa.code.failed", user_id: userId, ip: address });
    }
    return factor;
  }

  return {
    async status(userId: number) {
      const row = await mfaRepository.find(userId);
      return {
        enabled: Boolean(row?.enabledAt),
        pending: Boolean(row && !row.enabledAt),
        recoveryCodesLeft: row?.enabledAt ? await mfaRepository.unusedRecoveryCodes(userId) : 0,
      };
    },

    /**
     * Starts an enrolment: a new secret, shown this once (stored only encrypted). Starting
     * again before confirming replaces it.
     */
    async startEnrolment(
      userId: number,
      currentPassword: string | undefined,
      address: string,
      log: SecurityLog,
    ) {
      const user = await checkCurrentPassword(userId, currentPassword, address);
      const secret = newTotpSecret();
      if (!(await mfaRepository.savePending(userId, secretBox.seal(secret))))
        throw new ConflictError("mfa_already_enabled", "Two-factor authentication is already on");
      log({ event: "mfa.enrolment.started", user_id: userId });
      return { secret, uri: totpUri(secret, user.username) };
    },

    /** Confirms the enrolment with a first code; returns the recovery codes, shown this once. */
    async confirmEnrolment(
      userId: number,
      code: string,
      address: string,
      log: SecurityLog,
      /** The caller's session: the only one that stays. */
      sessionId?: string,
    ): Promise<string[]> {
      const row = await mfaRepository.find(userId);
      if (!row || row.enabledAt)
        throw new ConflictError("mfa_not_pending", "No enrolment to confirm: start one first");
      await credentialThrottle.assertAllowed(throttleKey(userId), address);
      const secret = secretBox.open(row.totpSecret);
      const step = secret === undefined ? undefined : matchingStep(secret, code.replace(/\s/g, ""));
      if (step === undefined) {
        await credentialThrottle.recordFailure(throttleKey(userId), address);
        log({ event: "mfa.code.failed", user_id: userId, ip: address });
        throw INVALID_CODE();
      }
      const codes = newRecoveryCodes();
      if (
        !(await mfaRepository.enable(
          userId,
          step,
          codes.map((c) => hashRecoveryCode(normalizeRecoveryCode(c) ?? c)),
        ))
      )
        throw new ConflictError("mfa_not_pending", "No enrolment to confirm: start one first");
      await credentialThrottle.recordSuccess(throttleKey(userId), address);
      // Sessions opened with the password alone (perhaps by whoever made the user turn MFA on) end.
      const ended = await endSessions(userId, sessionId);
      log({ event: "mfa.enabled", user_id: userId, sessions_ended: ended });
      return codes;
    },

    /** Finishes a password (or provider) sign-in with a code or a recovery code. */
    async verifySignIn(
      mfaToken: string,
      code: string,
      address: string,
      log: SecurityLog,
    ): Promise<TokenPair> {
      const pending = await deps.pendingSignIns.find(mfaToken);
      if (!pending) throw INVALID_PENDING();
      // An mfa_token works only from the client that proved the first factor (IPv6: its /64):
      // a token carried elsewhere cannot spread guesses over fresh addresses.
      if (clientAddressKey(pending.address) !== clientAddressKey(address)) {
        log({ event: "mfa.token.address_mismatch", user_id: pending.userId, ip: address });
        throw INVALID_PENDING();
      }
      const factor = await throttledSpend(pending.userId, code, address, log);
      if (!factor) {
        await deps.pendingSignIns.recordFailure(mfaToken);
        throw new UnauthorizedError("The code is not valid", "invalid_mfa_code");
      }
      if (!(await deps.pendingSignIns.claim(mfaToken))) throw INVALID_PENDING();
      return deps.authService.finishSignIn(pending, factor, log);
    },

    /** Turns MFA off: the password (when the account has one) and a code. */
    async disable(
      userId: number,
      input: { currentPassword?: string | undefined; code: string },
      address: string,
      log: SecurityLog,
      /** The caller's session: the only one that stays. */
      sessionId?: string,
    ): Promise<void> {
      await checkCurrentPassword(userId, input.currentPassword, address);
      if (!(await mfaRepository.isEnabled(userId)))
        throw new ConflictError("mfa_not_enabled", "Two-factor authentication is not on");
      if (!(await throttledSpend(userId, input.code, address, log))) throw INVALID_CODE();
      await mfaRepository.remove(userId);
      const ended = await endSessions(userId, sessionId);
      log({ event: "mfa.disabled", user_id: userId, sessions_ended: ended });
    },

    /**
     * Re-authentication before a dangerous change (deleting the account): a code or a
     * recovery code, spent and throttled exactly as at sign-in, so none is accepted twice.
     */
    async spendForReauthentication(
      userId: number,
      code: string,
      address: string,
      log: SecurityLog,
    ): Promise<boolean> {
      return (await throttledSpend(userId, code, address, log)) !== undefined;
    },

    /**
     * An admin removes a user's MFA (a lost device); the user enrols again, and every session
     * of theirs ends. Audited. Not the admin's own: an access token alone must never remove a
     * second factor, so admins turn theirs off as users do (password and code).
     */
    async adminReset(adminId: number, userId: number, log: SecurityLog): Promise<void> {
      if (adminId === userId) {
        log({ event: "mfa.admin_reset.refused", actor_id: adminId, user_id: userId, reason: "own_account" });
        throw new ForbiddenError(
          "Admins cannot reset their own two-factor authentication: turn it off with POST /auth/mfa/disable",
          "own_mfa_reset",
        );
      }
      if (!(await accounts.findById(userId))) throw new NotFoundError("No such user", "user_not_found");
      const removed = await mfaRepository.remove(userId);
      const ended = await endSessions(userId, undefined);
      log({
        event: "mfa.admin_reset",
        actor_id: adminId,
        user_id: userId,
        had_mfa: removed,
        sessions_ended: ended,
      });
    },
  };
}

export type MfaService = ReturnType<typeof createMfaService>;
