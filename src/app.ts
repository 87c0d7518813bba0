import type { FastifyInstance } from "fastify";
import type { Config } from "./config.js";
import { createServer, registerApi } from "./http/server.js";
import { manageLifecycle } from "./lifecycle.js";
import { createAuthModule } from "./modules/auth/index.js";
import type { PasswordHasher } from "./modules/auth/password-hasher.js";
import { SCOPES } from "./modules/auth/scopes.js";
import { createBackupsModule } from "./modules/backups/index.js";
import { type FeatureModule, jobsOf } from "./modules/feature-module.js";
import { createFilesModule } from "./modules/files/index.js";
import { createHealthModule } from "./modules/health/index.js";
import { createJobsModule } from "./modules/jobs/index.js";
import { createLiveModule, LIVE_MAX_PAYLOAD, liveAsyncApiDocument } from "./modules/live/index.js";
import { createMaintenanceModule } from "./modules/maintenance/index.js";
import { createMfaEnrolments, createMfaModule } from "./modules/mfa/index.js";
import { createOidcModule } from "./modules/oidc/index.js";
import { createOverviewModule } from "./modules/overview/index.js";
import { createPostsModule } from "./modules/posts/index.js";
import { createSearchModule } from "./modules/search/index.js";
import { createSecurityEventsModule } from "./modules/security-events/index.js";
import { createTransfersModule } from "./modules/transfers/index.js";
import { createUserAccounts, createUsersModule } from "./modules/users/index.js";
import type { Cache } from "./platform/cache/index.js";
import type { Database } from "./platform/database/index.js";
import { openPlatform, type Platform, type PlatformAdapters } from "./platform/platform.js";

export interface AppDependencies extends PlatformAdapters {
  database: Database;
  passwordHasher?: PasswordHasher;
  /** How soon a missing `kaira worker` is reported (tests shorten the minute). */
  workerPresence?: { missingAfterMs: number; checkEveryMs: number };
  /** Behaviour only tests may ask for; nothing in configuration reaches these. */
  testHooks?: {
    /** Every search first takes this long (on PostgreSQL inside its statement, holding its connection). */
    searchDelayMs?: number;
    /** The OpenID Connect one-time sign-in code lives this long instead of 60 s. */
    oidcSignInCodeTtlMs?: number;
  };
}

declare module "fastify" {
  interface FastifyInstance {
    cache: Cache;
    /** Where revoked sessions are recorded (see AppDependencies.revocationStore). */
    revocationStore: Cache;
    /** Throttle counters, blocks and pending sign-ins (see AppDependencies.counterStore). */
    counters: Cache;
  }
}

/** Every feature, each built on the platform and on what the features before it offer. */
export async function createModules(
  platform: Platform,
  options: Pick<AppDependencies, "passwordHasher" | "workerPresence" | "testHooks"> = {},
) {
  const accounts = createUserAccounts(platform);
  const mfaEnrolments = createMfaEnrolments(platform);
  const auth = await createAuthModule({
    ...platform,
    accounts,
    secondFactor: mfaEnrolments,
    passwordHasher: options.passwordHasher,
  });
  const mfa = createMfaModule({ enrolments: mfaEnrolments, accounts, auth: auth.services });
  const oidc = createOidcModule({
    ...platform,
    accounts,
    auth: auth.services,
    signInCodeTtlMs: options.testHooks?.oidcSignInCodeTtlMs,
  });
  const live = createLiveModule({ ...platform, sessionRevocations: auth.services.sessionRevocations });
  const afterEventsCommitted = () => live.services.outboxRelay.wake();
  const posts = createPostsModule({ ...platform, afterEventsCommitted });
  const users = createUsersModule({
    ...platform,
    accounts,
    auth: auth.services,
    invalidateAuthor: posts.services.invalidateAuthor,
    invalidatePosts: posts.services.invalidatePosts,
    secondFactor: mfa.services.reauthentication,
  });
  const files = createFilesModule({
    ...platform,
    postsChanged: posts.services.recordPostsChanged,
    invalidatePosts: posts.services.invalidatePosts,
    afterEventsCommitted,
  });
  const search = createSearchModule({ ...platform, searchDelayMs: options.testHooks?.searchDelayMs });
  const transfers = createTransfersModule({ ...platform, afterEventsCommitted });
  const jobs = createJobsModule({ ...platform, workerPresence: options.workerPresence });
  const backups = createBackupsModule(platform);
  const securityEvents = createSecurityEventsModule(platform);
  const overview = createOverviewModule(platform);
  const maintenance = createMaintenanceModule({
    ...platform,
    deleteExpiredRefreshTokens: auth.services.refreshTokensRepository.deleteExpired,
    deleteExpiredAccountTokens: auth.services.deleteExpiredAccountTokens,
    deleteExpiredIdempotencyKeys: transfers.services.deleteExpiredIdempotencyKeys,
    deleteExpiredSecurityEvents: securityEvents.services.deleteExpired,
    outbox: live.services.outbox,
  });
  // The API's routes are registered in this order.
  return {
    auth,
    mfa,
    oidc,
    users,
    posts,
    files,
    search,
    transfers,
    live,
    jobs,
    backups,
    securityEvents,
    overview,
    maintenance,
  };
}

/**
 * The composition root: the platform's adapters, the feature modules on them, the HTTP
 * server with their routes, and the lifecycle that starts and stops what runs beside the
 * requests. `main.ts` and the tests build the same app, differing only in config and the
 * adapters they pass.
 */
export async function buildApp(config: Config, deps: AppDependencies): Promise<FastifyInstance> {
  const opened = openPlatform(config, deps.database, deps);
  const { platform } = opened;
  const modules = await createModules(platform, deps);

  const app = await createServer(config, {
    ...(deps.logger ? { logger: deps.logger } : {}),
    metrics: platform.metrics,
    rateLimitCounters: platform.counters,
    oauth2Scopes: SCOPES,
    websocketMaxPayload: LIVE_MAX_PAYLOAD,
    asyncApiDocument: liveAsyncApiDocument,
  });
  platform.metrics.observe({
    outboxLagSeconds: () => modules.live.services.outbox.oldestUnpublishedAgeSeconds(),
  });
  app.decorate("cache", platform.cache);
  app.decorate("revocationStore", platform.revocationStore);
  app.decorate("counters", platform.counters);
  // Security events reported on requests are also stored for the admin view; what is still
  // buffered is written when the app closes (the database closes after it).
  const securityEventWriter = modules.securityEvents.services.writer;
  app.decorate("securityEvents", securityEventWriter);
  app.addHook("onClose", () => securityEventWriter.close());
  // Routes registered after this declare in their schema's `security` what they need.
  await app.register(modules.auth.authentication);
  const { workerPresence } = modules.jobs.services;
  const health = createHealthModule({
    ...platform,
    warnings: workerPresence ? [{ name: "workers", current: workerPresence.warning }] : [],
    isDraining: () => app.lifecycle.draining,
  });
  await app.register(health.routes);
  // In the order createModules lists them, which is the order of the OpenAPI document.
  const features: FeatureModule<unknown>[] = Object.values(modules);
  await registerApi(
    app,
    features.flatMap((module) => (module.routes ? [module.routes] : [])),
  );
  const { live, users } = modules;

  manageLifecycle(app, {
    platform: opened,
    subscriptions: live.services.subscriptions,
    outboxRelay: live.services.outboxRelay,
    startupTasks: [users.services.ensureConfiguredAdmin],
    work: jobsOf(features),
    workerPresence,
  });
  return app;
}
