import { createHash, randomBytes, randomUUID } from "node:crypto";
import type { AuthConfig } from "../../config.js";
import type { SecurityEvent } from "../../http/security-log.js";
import type { RefreshTokenRow } from "../../platform/database/schema.js";
import { ForbiddenError, UnauthorizedError } from "../../shared/errors.js";
import type { AccessTokens } from "./access-tokens.js";
import type { CredentialThrottle } from "./credential-throttle.js";
import { hasPassword, type PasswordHasher } from "./password-hasher.js";
import type { PendingSignIn, PendingSignIns } from "./pending-sign-ins.js";
import type { RefreshTokensRepository } from "./refresh-tokens.repository.js";
import { grantScopes, type Role, type Scope, stillAllowed } from "./scopes.js";
import type { SessionRevocations } from "./session-revocations.js";

/** The client a session was started from, as its owner will see it in the list of sessions. */
export interface ClientInfo {
  address: string;
  userAgent?: string | undefined;
}

// Bounded: a client chooses its User-Agent, and the list of sessions shows it back.
const USER_AGENT_MAX = 256;
const ADDRESS_MAX = 64;

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
  scopes: Scope[];
}

/** What auth reads of a user account. */
export interface Account {
  id: number;
  role: Role;
  passwordHash: string;
  isActive: boolean;
  tokenVersion: number;
  /** When the current email was proven; null: not (yet). */
  emailVerifiedAt: Date | null;
}

/**
 * The accounts auth signs in: the users module's repository provides them, so auth needs
 * nothing else of that module (users, in turn, uses auth's sessions and throttles).
 */
export interface Accounts {
  findByLogin(login: string): Promise<Account | undefined>;
  findById(id: number): Promise<Account | undefined>;
  update(id: number, changes: { passwordHash: string }): Promise<unknown>;
}

/**
 * Whether a user must prove a second factor before getting tokens. The MFA module answers;
 * auth only asks, so it never depends on that module.
 */
export interface SecondFactor {
  isEnrolled(userId: number): Promise<boolean>;
}

/** A sign-in either ends with tokens or waits for the second factor (`mfa_token`). */
export type SignInResult =
  | { kind: "tokens"; pair: TokenPair }
  | { kind: "second_factor"; mfaToken: string; expiresIn: number };

const SECOND_FACTOR_REFUSED = () =>
  new UnauthorizedError("The sign-in expired or is no longer valid; log in again", "invalid_mfa_token");

export interface AuthServiceDeps {
  secondFactor: SecondFactor;
  pendingSignIns: PendingSignIns;
  accounts: Accounts;
  refreshTokensRepository: RefreshTokensRepository;
  passwordHasher: PasswordHasher;
  accessTokens: AccessTokens;
  credentialThrottle: CredentialThrottle;
  sessionRevocations: SessionRevocations;
  config: AuthConfig;
  /** REQUIRE_VERIFIED_EMAIL: a correct password of an unverified account gets 403 instead of tokens. */
  requireVerifiedEmail?: boolean;
  /** A hash of a random password: unknown users are verified against it (equal work, equal time). */
  dummyHash: string;
}

const INVALID_CREDENTIALS = () =>
  new UnauthorizedError("Incorrect username or password", "invalid_credentials");
const INVALID_REFRESH = () =>
  new UnauthorizedError("Invalid or expired refresh token", "invalid_refresh_token");
const sha256 = (value: string) => createHash("sha256").update(value).digest("hex");

export function createAuthService(deps: AuthServiceDeps) {
  const { accounts, refreshTokensRepository, passwordHasher, accessTokens, credentialThrottle, config } =
    deps;
  const clientOf = (client: ClientInfo) => ({
    userAgent: client.userAgent?.slice(0, USER_AGENT_MAX) ?? null,
    ipAddress: client.address.slice(0, ADDRESS_MAX),
  });
  const newSession = (
    user: Account,
    scopes: Scope[],
    client: { userAgent: string | null; ipAddress: string | null },
  ) => issuePair(user, scopes, randomUUID(), new Date(Date.now() + config.sessionMaxSeconds * 1000), client);

  /**
   * The first factor is proven (a password, a provider's ID token): tokens, or — for a user
   * with a second factor — a pending sign-in that only that factor can finish.
   */
  async function afterFirstFactor(
    user: Account,
    scopes: Scope[],
    client: ClientInfo,
    method: string,
    log: (event: SecurityEvent) => void,
  ): Promise<SignInResult> {
    if (await deps.secondFactor.isEnrolled(user.id)) {
      const { userAgent, ipAddress } = clientOf(client);
      const pending = await deps.pendingSignIns.create({
        userId: user.id,
        scopes,
        tokenVersion: user.tokenVersion,
        address: ipAddress,
        userAgent,
        method,
      });
      log({ event: "auth.login.second_factor_required", user_id: user.id, ip: client.address, method });
      return { kind: "second_factor", mfaToken: pending.token, expiresIn: pending.expiresIn };
    }
    log({
      event: "auth.login.succeeded",
      user_id: user.id,
      ip: client.address,
      scope: scopes.join(" "),
      method,
    });
    return { kind: "tokens", pair: await newSession(user, scopes, clientOf(client)) };
  }

  /** Ends a session: its refresh tokens in the database, then its access tokens and sockets everywhere. */
  async function endSession(userId: number, familyId: string): Promise<void> {
    await refreshTokensRepository.revokeFamily(familyId);
    await deps.sessionRevocations.revoke({ userId, sessionIds: [familyId], allSessions: false });
  }

  /** A new pair in the session; neither token outlives the session's absolute end. */
  async function issuePair(
    user: Account,
    scopes: Scope[],
    familyId: string,
    sessionExpiresAt: Date,
    client: { userAgent: string | null; ipAddress: string | null },
  ): Promise<TokenPair> {
    const now = Date.now();
    const sessionEnd = sessionExpiresAt.getTime();
    const refreshToken = randomBytes(32).toString("base64url");
    await refreshTokensRepository.insert({
      userId: user.id,
      familyId,
      tokenHash: sha256(refreshToken),
      scope: scopes.join(" "),
      expiresAt: new Date(Math.min(now + config.refreshTokenTtlSeconds * 1000, sessionEnd)),
      sessionExpiresAt,
      ...client,
    });
    const ttlSeconds = Math.max(
      1,
      Math.min(config.accessTokenTtlSeconds, Math.floor((sessionEnd - now) / 1000)),
    );
    const accessToken = await accessTokens.issue({
      userId: user.id,
      scopes,
      version: user.tokenVersion,
      sessionId: familyId,
      ttlSeconds,
    });
    return { accessToken, refreshToken, expiresIn: ttlSeconds, scopes };
  }

  /**
   * A spent token presented again is forgiven only as a client's double refresh: it must be
   * the token spent last in its session (no rotation since), spent within the leeway. Two
   * concurrent refreshes with one token both land here or in the normal path, never in theft
   * detection, and both get pairs of the same session.
   */
  async function isDoubleRefresh(row: RefreshTokenRow, tokenHash: string): Promise<boolean> {
    if (config.refreshReuseLeewaySeconds === 0) return false;
    // Read again: the request that spent it may have done so after this one's first read.
    const current = row.usedAt ? row : await refreshTokensRepository.findByHash(tokenHash);
    const spentAt = current?.usedAt;
    if (!spentAt || current.revokedAt) return false;
    if (Date.now() - spentAt.getTime() > config.refreshReuseLeewaySeconds * 1000) return false;
    const lastSpent = await refreshTokensRepository.lastSpentAt(row.familyId);
    return lastSpent !== undefined && lastSpent.getTime() === spentAt.getTime();
  }

  return {
    /**
     * Password login: throttle check, constant-work verification (an unknown user costs a
     * hash like a known one), bcrypt-to-argon2id upgrade, then a new session.
     */
    async login(
      input: { login: string; password: string; scope?: string } & ClientInfo,
      log: (event: SecurityEvent) => void,
    ): Promise<SignInResult> {
      const user = await accounts.findByLogin(input.login);
      const account = user ? `user:${user.id}` : `name:${input.login.toLowerCase().slice(0, 320)}`;
      try {
        await credentialThrottle.assertAllowed(account, input.address);
      } catch (error) {
        log({ event: "auth.throttled", user_id: user?.id ?? null, ip: input.address });
        throw error;
      }
      // An account without a password (made by an OpenID Connect sign-in) costs the same hash.
      const valid =
        (await passwordHasher.verify(user?.passwordHash || deps.dummyHash, input.password)) &&
        hasPassword(user);
      if (!user || !valid || !user.isActive) {
        await credentialThrottle.recordFailure(account, input.address);
        log({
          event: "auth.login.failed",
          user_id: user?.id ?? null,
          reason: !user ? "unknown_user" : !valid ? "bad_password" : "inactive",
          ip: input.address,
        });
        throw INVALID_CREDENTIALS();
      }
      const scopes = grantScopes(user.role, input.scope);
      await credentialThrottle.recordSuccess(account, input.address);
      // Told only after the password proved who is asking, so it reveals nothing to others.
      if (deps.requireVerifiedEmail && user.emailVerifiedAt === null) {
        log({ event: "auth.login.unverified", user_id: user.id, ip: input.address });
        throw new ForbiddenError(
          "Verify your email address first: follow the link we mailed you, or ask for a new one at /api/v1/auth/verify-email/resend",
          "email_not_verified",
        );
      }
      if (passwordHasher.needsRehash(user.passwordHash)) {
        await accounts.update(user.id, { passwordHash: await passwordHasher.hash(input.password) });
        log({ event: "auth.password.rehashed", user_id: user.id });
      }
      return afterFirstFactor(user, scopes, input, "password", log);
    },

    /**
     * A sign-in whose first factor was proven elsewhere (an OpenID Connect provider): the
     * account must still be active, and a second factor is still asked for when enrolled.
     */
    async signInVerified(
      userId: number,
      client: ClientInfo,
      method: string,
      log: (event: SecurityEvent) => void,
    ): Promise<SignInResult> {
      const user = await accounts.findById(userId);
      if (!user?.isActive) {
        log({ event: "auth.login.failed", user_id: userId, reason: "inactive", ip: client.address, method });
        throw INVALID_CREDENTIALS();
      }
      return afterFirstFactor(user, grantScopes(user.role, undefined), client, method, log);
    },

    /**
     * The second factor was proven for `pending`: a new session, unless the account was
     * deactivated or its password changed since the first factor.
     */
    async finishSignIn(
      pending: PendingSignIn,
      factor: string,
      log: (event: SecurityEvent) => void,
    ): Promise<TokenPair> {
      const user = await accounts.findById(pending.userId);
      if (!user?.isActive || user.tokenVersion !== pending.tokenVersion) throw SECOND_FACTOR_REFUSED();
      const scopes = stillAllowed(user.role, pending.scopes);
      log({
        event: "auth.login.succeeded",
        user_id: user.id,
        ip: pending.address,
        scope: scopes.join(" "),
        method: `${pending.method}+${factor}`,
      });
      return newSession(user, scopes, { userAgent: pending.userAgent, ipAddress: pending.address });
    },

    /**
     * Rotation: the presented token is spent and the next one issued, within the session's
     * absolute lifetime. A spent token presented again revokes the whole session, unless it
     * is a double refresh within REFRESH_REUSE_LEEWAY_SECONDS.
     */
    async refresh(refreshToken: string, log: (event: SecurityEvent) => void): Promise<TokenPair> {
      const tokenHash = sha256(refreshToken);
      const row = await refreshTokensRepository.findByHash(tokenHash);
      if (!row || row.revokedAt) throw INVALID_REFRESH();
      const spentHere = !row.usedAt && (await refreshTokensRepository.spend(row.id));
      if (!spentHere && !(await isDoubleRefresh(row, tokenHash))) {
        await endSession(row.userId, row.familyId);
        log({ event: "auth.refresh.reused", user_id: row.userId, family_id: row.familyId });
        throw INVALID_REFRESH();
      }
      // Sessions from before the absolute lifetime existed end SESSION_MAX_DAYS after this token.
      const sessionExpiresAt =
        row.sessionExpiresAt ?? new Date(row.createdAt.getTime() + config.sessionMaxSeconds * 1000);
      const now = Date.now();
      if (row.expiresAt.getTime() <= now || sessionExpiresAt.getTime() <= now) throw INVALID_REFRESH();
      const user = await accounts.findById(row.userId);
      if (!user?.isActive) {
        await endSession(row.userId, row.familyId);
        throw INVALID_REFRESH();
      }
      const scopes = stillAllowed(user.role, row.scope.split(" "));
      const pair = await issuePair(user, scopes, row.familyId, sessionExpiresAt, {
        userAgent: row.userAgent,
        ipAddress: row.ipAddress,
      });
      // A revocation racing this rotation (a logout, reuse detected by another request) may
      // have run before the new token existed; it must not survive that revocation.
      if (await refreshTokensRepository.isFamilyRevoked(row.familyId)) {
        await endSession(row.userId, row.familyId);
        throw INVALID_REFRESH();
      }
      log({
        event: spentHere ? "auth.refresh.succeeded" : "auth.refresh.repeated",
        user_id: user.id,
        family_id: row.familyId,
      });
      return pair;
    },

    /** Ends the session the token belongs to; unknown tokens are ignored (nothing to reveal). */
    async logout(refreshToken: string, log: (event: SecurityEvent) => void): Promise<void> {
      const row = await refreshTokensRepository.findByHash(sha256(refreshToken));
      if (!row) return;
      await endSession(row.userId, row.familyId);
      log({ event: "auth.logout", user_id: row.userId, family_id: row.familyId });
    },
  };
}

export type AuthService = ReturnType<typeof createAuthService>;
