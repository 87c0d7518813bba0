import { createHash, randomBytes, randomUUID } from "node:crypto";
import type { AuthConfig } from "../../config.js";
import { UnauthorizedError } from "../../http/errors.js";
import type { SecurityEvent } from "../../http/security-log.js";
import type { User, UsersRepository } from "../users/users.repository.js";
import type { AccessTokens } from "./access-tokens.js";
import type { LoginThrottle } from "./login-throttle.js";
import type { PasswordHasher } from "./password-hasher.js";
import type { RefreshTokensRepository } from "./refresh-tokens.repository.js";
import { grantScopes, type Role, type Scope, stillAllowed } from "./scopes.js";
import type { SessionRevocations } from "./session-revocations.js";

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
  scopes: Scope[];
}

export interface AuthServiceDeps {
  usersRepository: UsersRepository;
  refreshTokensRepository: RefreshTokensRepository;
  passwordHasher: PasswordHasher;
  accessTokens: AccessTokens;
  loginThrottle: LoginThrottle;
  sessionRevocations: SessionRevocations;
  config: AuthConfig;
  /** A hash of a random password: unknown users are verified against it (equal work, equal time). */
  dummyHash: string;
}

const INVALID_CREDENTIALS = () =>
  new UnauthorizedError("Incorrect username or password", "invalid_credentials");
const INVALID_REFRESH = () =>
  new UnauthorizedError("Invalid or expired refresh token", "invalid_refresh_token");
const sha256 = (value: string) => createHash("sha256").update(value).digest("hex");

export function createAuthService(deps: AuthServiceDeps) {
  const { usersRepository, refreshTokensRepository, passwordHasher, accessTokens, loginThrottle, config } =
    deps;

  /** Ends a session: its refresh tokens in the database, then its access tokens and sockets everywhere. */
  async function endSession(userId: number, familyId: string): Promise<void> {
    await refreshTokensRepository.revokeFamily(familyId);
    await deps.sessionRevocations.revoke({ userId, sessionIds: [familyId], allSessions: false });
  }

  async function issuePair(user: User, scopes: Scope[], familyId: string): Promise<TokenPair> {
    const refreshToken = randomBytes(32).toString("base64url");
    await refreshTokensRepository.insert({
      userId: user.id,
      familyId,
      tokenHash: sha256(refreshToken),
      scope: scopes.join(" "),
      expiresAt: new Date(Date.now() + config.refreshTokenTtlSeconds * 1000),
    });
    const accessToken = await accessTokens.issue({
      userId: user.id,
      scopes,
      version: user.tokenVersion,
      sessionId: familyId,
    });
    return { accessToken, refreshToken, expiresIn: config.accessTokenTtlSeconds, scopes };
  }

  return {
    /**
     * Password login: throttle check, constant-work verification (an unknown user costs a
     * hash like a known one), bcrypt-to-argon2id upgrade, then a new session.
     */
    async login(
      input: { login: string; password: string; scope?: string; address: string },
      log: (event: SecurityEvent) => void,
    ): Promise<TokenPair> {
      const user = await usersRepository.findByLogin(input.login);
      const account = user ? `user:${user.id}` : `name:${input.login.toLowerCase().slice(0, 320)}`;
      try {
        await loginThrottle.assertAllowed(account, input.address);
      } catch (error) {
        log({ event: "auth.throttled", user_id: user?.id ?? null, ip: input.address });
        throw error;
      }
      const valid = await passwordHasher.verify(user?.passwordHash ?? deps.dummyHash, input.password);
      if (!user || !valid || !user.isActive) {
        await loginThrottle.recordFailure(account, input.address);
        log({
          event: "auth.login.failed",
          user_id: user?.id ?? null,
          reason: !user ? "unknown_user" : !valid ? "bad_password" : "inactive",
          ip: input.address,
        });
        throw INVALID_CREDENTIALS();
      }
      const scopes = grantScopes(user.role as Role, input.scope);
      await loginThrottle.recordSuccess(account);
      if (passwordHasher.needsRehash(user.passwordHash)) {
        await usersRepository.update(user.id, { passwordHash: await passwordHasher.hash(input.password) });
        log({ event: "auth.password.rehashed", user_id: user.id });
      }
      log({ event: "auth.login.succeeded", user_id: user.id, ip: input.address, scope: scopes.join(" ") });
      return issuePair(user, scopes, randomUUID());
    },

    /** Rotation: the presented token is spent; a spent one revokes its whole family. */
    async refresh(refreshToken: string, log: (event: SecurityEvent) => void): Promise<TokenPair> {
      const row = await refreshTokensRepository.findByHash(sha256(refreshToken));
      if (!row || row.revokedAt) throw INVALID_REFRESH();
      if (row.usedAt || !(await refreshTokensRepository.spend(row.id))) {
        await endSession(row.userId, row.familyId);
        log({ event: "auth.refresh.reused", user_id: row.userId, family_id: row.familyId });
        throw INVALID_REFRESH();
      }
      if (row.expiresAt.getTime() <= Date.now()) throw INVALID_REFRESH();
      const user = await usersRepository.findById(row.userId);
      if (!user?.isActive) {
        await endSession(row.userId, row.familyId);
        throw INVALID_REFRESH();
      }
      const scopes = stillAllowed(user.role as Role, row.scope.split(" "));
      log({ event: "auth.refresh.succeeded", user_id: user.id, family_id: row.familyId });
      return issuePair(user, scopes, row.familyId);
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
