import type { Platform } from "../../platform/platform.js";
import type { AuthModule } from "../auth/index.js";
import type { FeatureModule } from "../feature-module.js";
import { createAccountLifecycleRepository } from "./account-lifecycle.repository.js";
import { accountLifecycleRoutes } from "./account-lifecycle.routes.js";
import { createAccountLifecycleService, type SecondFactorCheck } from "./account-lifecycle.service.js";
import { accountMailHandlers } from "./account-mail.jobs.js";
import { createAccountMailThrottle } from "./account-mail-throttle.js";
import { createSignupThrottle } from "./signup-throttle.js";
import { profileKey, withUsersCache } from "./users.cache.js";
import { createUsersRepository, type UsersRepository } from "./users.repository.js";
import { usersRoutes } from "./users.routes.js";
import { createUsersService } from "./users.service.js";
import { WELCOME_EMAIL_JOB, welcomeEmailHandler } from "./welcome-email.job.js";

/**
 * The accounts, built before the modules: auth signs them in through this repository, and
 * the users module (built after auth) manages them with auth's sessions and throttles.
 */
export function createUserAccounts(deps: Pick<Platform, "database" | "jobs">): UsersRepository {
  return createUsersRepository(deps.database, (executor, job) => deps.jobs.record(executor, job));
}

export interface UsersModuleDeps
  extends Pick<Platform, "config" | "logger" | "counters" | "mailer" | "readThrough" | "database" | "jobs"> {
  accounts: UsersRepository;
  auth: AuthModule["services"];
  /** A renamed user's posts show the new name: their cached copies go. */
  invalidateAuthor(userId: number): Promise<void>;
  /** Posts deleted with an account: their cached copies go. */
  invalidatePosts(postIds: number[]): Promise<void>;
  /** The second factor, accepted in place of the password to re-authenticate (the MFA module's). */
  secondFactor: SecondFactorCheck;
}

/** Sign-up, profiles and accounts, the account lifecycle (verification, recovery, email change, deletion) and its mail. */
export function createUsersModule(deps: UsersModuleDeps) {
  const { config, logger, accounts, auth } = deps;
  const profiles = deps.readThrough("profiles");
  const usersService = withUsersCache(
    createUsersService({
      usersRepository: accounts,
      passwordHasher: auth.passwordHasher,
      refreshTokensRepository: auth.refreshTokensRepository,
      authState: auth.authState,
      sessionRevocations: auth.sessionRevocations,
      credentialThrottle: auth.credentialThrottle,
      signupThrottle: createSignupThrottle(deps.counters, config.signupPerHour),
      accountTokens: auth.accountTokens,
    }),
    profiles,
    deps.invalidateAuthor,
  );
  const recordJob = (
    executor: Parameters<typeof deps.jobs.record>[0],
    job: Parameters<typeof deps.jobs.record>[1],
  ) => deps.jobs.record(executor, job);
  const lifecycle = createAccountLifecycleService({
    repository: createAccountLifecycleRepository(deps.database.db, recordJob),
    usersRepository: accounts,
    accountTokens: auth.accountTokens,
    recordJob,
    passwordHasher: auth.passwordHasher,
    credentialThrottle: auth.credentialThrottle,
    mailThrottle: createAccountMailThrottle(deps.counters, config.accounts),
    authState: auth.authState,
    sessionRevocations: auth.sessionRevocations,
    secondFactor: deps.secondFactor,
    async sessionStartedAt(userId, sessionId) {
      const sessions = await auth.refreshTokensRepository.listActiveSessions(userId);
      return sessions.find((session) => session.familyId === sessionId)?.createdAt;
    },
    async afterAccountChanged(userId, deletedPostIds = []) {
      await profiles.invalidate(profileKey(userId));
      if (deletedPostIds.length > 0) {
        await deps.invalidatePosts(deletedPostIds);
        await deps.invalidateAuthor(userId);
      }
    },
  });
  const mailDeps = {
    db: deps.database.db,
    usersRepository: accounts,
    accountTokens: auth.accountTokens,
    mailer: deps.mailer,
    publicUrl: config.accounts.publicUrl,
  };
  const { adminEmail, adminPassword } = config;
  return {
    routes: async (api) => {
      await api.register(usersRoutes, { usersService, lifecycle });
      await api.register(accountLifecycleRoutes, { lifecycle });
    },
    jobs: {
      [WELCOME_EMAIL_JOB]: welcomeEmailHandler(mailDeps),
      ...accountMailHandlers(mailDeps),
    },
    services: {
      /** Creates the admin account ADMIN_EMAIL/ADMIN_PASSWORD name, when it does not exist yet. */
      async ensureConfiguredAdmin(): Promise<void> {
        if (!adminEmail || !adminPassword) return;
        const { result, user } = await usersService.ensureAdmin(adminEmail, adminPassword);
        if (result === "created")
          logger.info({ event: "user.admin_bootstrapped", user_id: user.id }, "admin account created");
      },
    },
  } satisfies FeatureModule<object>;
}
