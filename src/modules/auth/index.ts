import { randomBytes } from "node:crypto";
import type { FastifyPluginAsync } from "fastify";
import fp from "fastify-plugin";
import type { Platform } from "../../platform/platform.js";
import type { FeatureModule } from "../feature-module.js";
import { ACCESS_TOKEN_CLOCK_TOLERANCE_SECONDS, createAccessTokens } from "./access-tokens.js";
import { createAccountTokens } from "./account-tokens.js";
import { createAccountTokensRepository } from "./account-tokens.repository.js";
import { authenticationPlugin } from "./auth.plugin.js";
import { authRoutes } from "./auth.routes.js";
import { type Accounts, createAuthService, type SecondFactor } from "./auth.service.js";
import { createAuthStateCache } from "./auth-state.js";
import { createCredentialThrottle } from "./credential-throttle.js";
import { createArgon2Hasher, type PasswordHasher } from "./password-hasher.js";
import { createPendingSignIns } from "./pending-sign-ins.js";
import { createRefreshTokensRepository } from "./refresh-tokens.repository.js";
import { createSessionRevocations } from "./session-revocations.js";
import { sessionsRoutes } from "./sessions.routes.js";
import { createSessionsService } from "./sessions.service.js";
import { loadSigningKeys } from "./signing-keys.js";

export interface AuthModuleDeps
  extends Pick<
    Platform,
    "config" | "logger" | "metrics" | "database" | "cache" | "counters" | "revocationStore" | "pubsub"
  > {
  /** The accounts to sign in (the users module's repository). */
  accounts: Accounts;
  /** Who must prove a second factor after the first (the MFA module's enrolments). */
  secondFactor: SecondFactor;
  /** Argon2id unless given (tests pass a cheap one). */
  passwordHasher?: PasswordHasher;
}

/** Tokens and sessions: log in, refresh, log out, and checking every request's token. */
export async function createAuthModule(deps: AuthModuleDeps) {
  const { config, logger, metrics, accounts } = deps;
  const passwordHasher = deps.passwordHasher ?? createArgon2Hasher();
  const refreshTokensRepository = createRefreshTokensRepository(deps.database.db);
  const signingKeys = loadSigningKeys(config);
  const accessTokens = createAccessTokens(signingKeys, config.auth);
  // A pending sign-in is security state: in process memory it lives with the counters, where
  // reads of posts cannot evict it; a shared cache keeps it for every instance.
  const pendingSignIns = createPendingSignIns(deps.cache.shared ? deps.cache : deps.counters);
  const authState = createAuthStateCache(
    deps.cache,
    async (userId) => {
      const user = await accounts.findById(userId);
      return (
        user && {
          tokenVersion: user.tokenVersion,
          isActive: user.isActive,
          role: user.role,
          emailVerified: user.emailVerifiedAt !== null,
        }
      );
    },
    (error) => {
      metrics.cacheErrors.inc({ cache: "auth_state" });
      logger.warn({ err: error, event: "cache.unavailable" }, "auth state read from the database");
    },
    (hit) => (hit ? metrics.cacheHits : metrics.cacheMisses).inc({ cache: "auth_state" }),
  );
  const sessionRevocations = createSessionRevocations({
    store: deps.revocationStore,
    pubsub: deps.pubsub,
    recordTtlMs: (config.auth.accessTokenTtlSeconds + ACCESS_TOKEN_CLOCK_TOLERANCE_SECONDS) * 1000,
    revokedInDatabase: (sessionId) => refreshTokensRepository.isFamilyRevoked(sessionId),
    onError: (error, event) => logger.warn({ err: error, event }, "session revocation store unavailable"),
  });
  // One throttle for every check of a secret: logins and the current password alike.
  const credentialThrottle = createCredentialThrottle(deps.counters, config.auth);
  // One-time tokens mailed to users (verification, reset, email change), spent under the same throttle.
  const accountTokensRepository = createAccountTokensRepository(deps.database.db);
  const accountTokens = createAccountTokens({ repository: accountTokensRepository, credentialThrottle });
  const authService = createAuthService({
    secondFactor: deps.secondFactor,
    pendingSignIns,
    accounts,
    refreshTokensRepository,
    passwordHasher,
    accessTokens,
    credentialThrottle,
    sessionRevocations,
    config: config.auth,
    requireVerifiedEmail: config.accounts.requireVerifiedEmail,
    dummyHash: await passwordHasher.hash(randomBytes(16).toString("hex")),
  });
  const sessionsService = createSessionsService({
    refreshTokensRepository,
    sessionRevocations,
    accountTokens,
  });
  /** Checks the token of every route that declares `security` (register it before those routes). */
  const authentication: FastifyPluginAsync = fp(async (app) => {
    await app.register(authenticationPlugin, {
      accessTokens,
      authState,
      sessionRevocations,
      requireVerifiedEmail: config.accounts.requireVerifiedEmail,
    });
  });
  return {
    routes: async (api) => {
      await api.register(authRoutes, {
        authService,
        refreshCookieMaxAgeSeconds: config.auth.refreshTokenTtlSeconds,
      });
      await api.register(sessionsRoutes, { sessionsService });
    },
    authentication,
    services: {
      /** How long a browser keeps its refresh cookie (routes that hand out pairs set it). */
      refreshCookieMaxAgeSeconds: config.auth.refreshTokenTtlSeconds,
      passwordHasher,
      refreshTokensRepository,
      authState,
      sessionRevocations,
      credentialThrottle,
      /** Signing in after a first factor proven elsewhere, and finishing pending sign-ins. */
      authService,
      pendingSignIns,
      /** SECRET_KEY and its predecessors: other modules derive their own keys from them. */
      signingKeys,
      accountTokens,
      deleteExpiredAccountTokens: accountTokensRepository.deleteExpired,
    },
  } satisfies FeatureModule<object> & { authentication: FastifyPluginAsync };
}

export type AuthModule = Awaited<ReturnType<typeof createAuthModule>>;
