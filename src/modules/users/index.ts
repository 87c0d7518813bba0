import type { Platform } from "../../platform/platform.js";
import type { AuthModule } from "../auth/index.js";
import type { FeatureModule } from "../feature-module.js";
import { createSignupThrottle } from "./signup-throttle.js";
import { withUsersCache } from "./users.cache.js";
import { createUsersRepository, type UsersRepository } from "./users.repository.js";
import { usersRoutes } from "./users.routes.js";
import { createUsersService } from "./users.service.js";
import { WELCOME_EMAIL_JOB, welcomeEmailHandler } from "./welcome-email.job.js";

/**
 * The accounts, built before the modules: auth signs them in through this repository, and
 * the users module (built after auth) manages them with auth's sessions and throttles.
 */
export function createUserAccounts(deps: Pick<Platform, "database" | "jobs">): UsersRepository {
  return createUsersRepository(deps.database.db, (executor, job) => deps.jobs.record(executor, job));
}

export interface UsersModuleDeps
  extends Pick<Platform, "config" | "logger" | "counters" | "mailer" | "readThrough"> {
  accounts: UsersRepository;
  auth: AuthModule["services"];
  /** A renamed user's posts show the new name: their cached copies go. */
  invalidateAuthor(userId: number): Promise<void>;
}

/** Sign-up, profiles and accounts, and the welcome mail. */
export function createUsersModule(deps: UsersModuleDeps) {
  const { config, logger, accounts, auth } = deps;
  const usersService = withUsersCache(
    createUsersService({
      usersRepository: accounts,
      passwordHasher: auth.passwordHasher,
      refreshTokensRepository: auth.refreshTokensRepository,
      authState: auth.authState,
      sessionRevocations: auth.sessionRevocations,
      credentialThrottle: auth.credentialThrottle,
      signupThrottle: createSignupThrottle(deps.counters, config.signupPerHour),
    }),
    deps.readThrough("profiles"),
    deps.invalidateAuthor,
  );
  const { adminEmail, adminPassword } = config;
  return {
    routes: async (api) => {
      await api.register(usersRoutes, { usersService });
    },
    jobs: {
      [WELCOME_EMAIL_JOB]: welcomeEmailHandler({ usersRepository: accounts, mailer: deps.mailer }),
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
