import type { SecurityLog } from "../../http/security-log.js";
import { decodeCursor, isIdCursor } from "../../shared/cursor.js";
import { violatedUniqueConstraint } from "../../shared/db-errors.js";
import { BadRequestError, ConflictError, NotFoundError } from "../../shared/errors.js";
import { fetchPage, type Page } from "../../shared/paging.js";
import type { AccountTokens } from "../auth/account-tokens.js";
import type { AuthStateCache } from "../auth/auth-state.js";
import type { CredentialThrottle } from "../auth/credential-throttle.js";
import type { PasswordHasher } from "../auth/password-hasher.js";
import { assertPasswordAllowed } from "../auth/password-policy.js";
import type { RefreshTokensRepository } from "../auth/refresh-tokens.repository.js";
import type { Role } from "../auth/scopes.js";
import type { SessionRevocations } from "../auth/session-revocations.js";
import type { SignupThrottle } from "./signup-throttle.js";
import type { Account, User, UserChanges, UsersRepository } from "./users.repository.js";
import type { UserCreate } from "./users.schemas.js";
import { welcomeEmailJob } from "./welcome-email.job.js";

export interface UsersServiceDeps {
  usersRepository: UsersRepository;
  passwordHasher: PasswordHasher;
  refreshTokensRepository?: RefreshTokensRepository;
  authState?: AuthStateCache;
  sessionRevocations?: SessionRevocations;
  /** Throttles checks of the current password as logins are throttled. */
  credentialThrottle?: CredentialThrottle;
  /** Limits public sign-ups per client address. */
  signupThrottle?: SignupThrottle;
  /** Voids pending links (email change, verification) when the password changes. */
  accountTokens?: Pick<AccountTokens, "revokeUnusedNow">;
}

type Log = SecurityLog;

export interface Profile {
  id: number;
  username: string;
  email: string;
  role: Role;
  emailVerified: boolean;
  createdAt: Date;
}

/** What the caller may change of their own account; a new password needs the current one. */
export interface OwnAccountChanges {
  username?: string | undefined;
  password?: string | undefined;
  currentPassword?: string | undefined;
}

/** What an admin may change of any account. */
export interface AdminUserChanges {
  role?: Role | undefined;
  isActive?: boolean | undefined;
}

/** The pending links a new password voids (the cancel link of an email change stays: it is the owner's way back). */
export const VOIDED_BY_PASSWORD_CHANGE = ["password_reset", "email_change", "email_verification"] as const;

function duplicateToBadRequest(error: unknown): never {
  const constraint = violatedUniqueConstraint(error);
  if (constraint === "users_email_lower_key")
    throw new BadRequestError("email_taken", "Email already registered");
  if (constraint === "users_username_key")
    throw new BadRequestError("username_taken", "Username already taken");
  throw error;
}

export function createUsersService({
  usersRepository,
  passwordHasher,
  refreshTokensRepository,
  authState,
  sessionRevocations,
  credentialThrottle,
  signupThrottle,
  accountTokens,
}: UsersServiceDeps) {
  /**
   * After a change that bumped the token version: every access token of the user is void
   * already; the sessions ended here get their own record too, and every instance closes
   * the user's live sockets.
   */
  async function announceEndedSessions(userId: number, sessionIds: string[]): Promise<void> {
    await sessionRevocations?.revoke({ userId, sessionIds, allSessions: true });
  }

  /** Every change that can revoke tokens goes through here, then tells the auth-state cache. */
  async function applyChanges(id: number, changes: UserChanges, keepAnAdmin = false): Promise<User> {
    let user: User | undefined | "last_admin";
    try {
      user = keepAnAdmin
        ? await usersRepository.updateKeepingAnAdmin(id, changes)
        : await usersRepository.update(id, changes);
    } catch (error) {
      duplicateToBadRequest(error);
    }
    if (user === "last_admin") {
      throw new ConflictError(
        "last_admin",
        "This would leave no active admin: make another user an admin first",
      );
    }
    if (!user) throw new NotFoundError(`User ${id} not found`, "user_not_found");
    await authState?.publish(user.id, {
      tokenVersion: user.tokenVersion,
      isActive: user.isActive,
      role: user.role,
      emailVerified: user.emailVerifiedAt !== null,
    });
    return user;
  }

  return {
    /** Sign-up: hash the password, insert, and turn a duplicate into the contract's 400s. */
    async registerUser(input: UserCreate, role: Role = "user"): Promise<User> {
      assertPasswordAllowed(input.password, input);
      const passwordHash = await passwordHasher.hash(input.password);
      try {
        // The welcome message is a job recorded with the user: it is sent if and only if
        // the sign-up commits, even when the queue is unreachable at that moment.
        return await usersRepository.insert(
          {
            email: input.email.trim(),
            username: input.username,
            passwordHash,
            // An admin is made by the operator, who names the address: it counts as verified,
            // so REQUIRE_VERIFIED_EMAIL never locks the first admin out.
            ...(role === "admin" ? { role, emailVerifiedAt: new Date() } : {}),
          },
          welcomeEmailJob,
        );
      } catch (error) {
        duplicateToBadRequest(error);
      }
    },

    /** Public sign-up from a client address: throttled per address, then registered. */
    async signUp(input: UserCreate, address: string): Promise<User> {
      await signupThrottle?.assertAllowed(address);
      return this.registerUser(input);
    },

    /** What a profile shows; never the password hash, so it can be cached. */
    async getProfile(id: number): Promise<Profile> {
      const { username, email, role, emailVerifiedAt, createdAt } = await this.getUser(id);
      return { id, username, email, role, emailVerified: emailVerifiedAt !== null, createdAt };
    },

    /** The caller's account view (GET /users/me). */
    async getAccount(id: number): Promise<Account> {
      const account = await usersRepository.findAccountById(id);
      if (!account) throw new NotFoundError(`User ${id} not found`, "user_not_found");
      return account;
    },

    async getUser(id: number): Promise<User> {
      const user = await usersRepository.findById(id);
      if (!user) throw new NotFoundError(`User ${id} not found`, "user_not_found");
      return user;
    },

    /** Users by id, keyset-paginated. */
    async listUsers(limit: number, cursor: string | undefined, search?: string): Promise<Page<User>> {
      const afterId = cursor ? decodeCursor(cursor, isIdCursor)[0] : 0;
      return fetchPage(
        limit,
        (take) => usersRepository.listAfter(afterId, take, search),
        (last) => [last.id],
      );
    },

    /**
     * The caller changes their own account. A new password needs the current one, revokes
     * every access token (version bump) and every other session; the caller's own session
     * stays, so its refresh token yields a fresh access token.
     */
    async updateOwnAccount(
      userId: number,
      sessionId: string,
      input: OwnAccountChanges,
      log: Log,
      /** The client address: current-password guesses are throttled per account and address. */
      address: string,
    ): Promise<User> {
      const changes: UserChanges = {};
      if (input.username !== undefined) changes.username = input.username;
      if (input.password !== undefined) {
        if (input.currentPassword === undefined) {
          throw new BadRequestError(
            "current_password_required",
            "Changing the password needs current_password",
          );
        }
        const user = await this.getUser(userId);
        const currentPassword = input.currentPassword;
        const verify = () => passwordHasher.verify(user.passwordHash, currentPassword);
        let valid: boolean;
        try {
          valid = credentialThrottle
            ? await credentialThrottle.check(`user:${userId}`, address, verify)
            : await verify();
        } catch (error) {
          log({ event: "auth.throttled", user_id: userId, ip: address });
          throw error;
        }
        if (!valid) {
          log({ event: "user.password_change.failed", user_id: userId, ip: address });
          throw new BadRequestError("invalid_current_password", "current_password is not correct");
        }
        assertPasswordAllowed(input.password, {
          email: user.email,
          username: input.username ?? user.username,
        });
        changes.passwordHash = await passwordHasher.hash(input.password);
        changes.bumpTokenVersion = true;
      }
      const updated = await applyChanges(userId, changes);
      if (changes.passwordHash) {
        // Links asked for under the old password die with it: an intruder who knew it may
        // have asked for an email change (which would outlive this change), or a reset.
        await accountTokens?.revokeUnusedNow(userId, [...VOIDED_BY_PASSWORD_CHANGE]);
        await announceEndedSessions(
          userId,
          (await refreshTokensRepository?.revokeAllForUser(userId, sessionId)) ?? [],
        );
        log({ event: "user.password_changed", user_id: userId });
      }
      return updated;
    },

    /** Admin changes role or activation; either revokes the user's tokens at once. */
    async adminUpdateUser(actorId: number, userId: number, input: AdminUserChanges, log: Log): Promise<User> {
      const before = await this.getUser(userId);
      const roleChanged = input.role !== undefined && input.role !== before.role;
      const activeChanged = input.isActive !== undefined && input.isActive !== before.isActive;
      const changes: UserChanges = {
        ...(roleChanged ? { role: input.role } : {}),
        ...(activeChanged ? { isActive: input.isActive } : {}),
        ...(roleChanged || activeChanged ? { bumpTokenVersion: true } : {}),
      };
      // The last active admin cannot demote or deactivate themselves (or be demoted): the
      // console and the admin API would be out of everyone's reach.
      const updated = await applyChanges(userId, changes, true);
      if (roleChanged || activeChanged) {
        const ended =
          activeChanged && !updated.isActive
            ? ((await refreshTokensRepository?.revokeAllForUser(userId)) ?? [])
            : [];
        await announceEndedSessions(userId, ended);
      }
      if (roleChanged)
        log({ event: "user.role_changed", actor_id: actorId, user_id: userId, role: updated.role });
      if (activeChanged) {
        log({
          event: updated.isActive ? "user.activated" : "user.deactivated",
          actor_id: actorId,
          user_id: userId,
        });
      }
      return updated;
    },

    /**
     * An admin signs a user out everywhere: every session ends (refresh and access tokens) and
     * every live socket of the user closes, on every instance. The account stays as it is.
     */
    async adminRevokeSessions(actorId: number, userId: number, log: Log): Promise<void> {
      await this.getUser(userId);
      const ended = (await refreshTokensRepository?.revokeAllForUser(userId)) ?? [];
      await announceEndedSessions(userId, ended);
      log({ event: "user.sessions_revoked", actor_id: actorId, user_id: userId, sessions: ended.length });
    },

    /** ADMIN_EMAIL bootstrap and `kaira create-admin`: create the admin unless the email exists. */
    /**
     * Makes sure `email` belongs to an admin: creates the account (username from the
     * email's local part) unless a user has the email; with `promote`, an existing user
     * becomes an admin. Promotion only adds rights, so the user's tokens stay valid; their
     * next login carries the admin scope.
     */
    async ensureAdmin(
      email: string,
      password: string | undefined,
      options: { promote?: boolean } = {},
    ): Promise<{ result: "created" | "promoted" | "already_admin" | "exists"; user: User }> {
      const existing = await usersRepository.findByEmail(email);
      if (existing) {
        if (existing.role === "admin") return { result: "already_admin", user: existing };
        if (!options.promote) return { result: "exists", user: existing };
        return { result: "promoted", user: await applyChanges(existing.id, { role: "admin" }) };
      }
      if (password === undefined)
        throw new BadRequestError("password_required", "A new admin needs a password");
      const base = (email.split("@")[0] ?? "admin").replace(/[^A-Za-z0-9_.-]/g, "_").slice(0, 32);
      const username = base.length >= 3 ? base : `${base}_admin`;
      const user = await this.registerUser({ email, username, password }, "admin");
      return { result: "created", user };
    },
  };
}

export type UsersService = ReturnType<typeof createUsersService>;
