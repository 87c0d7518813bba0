import { randomBytes } from "node:crypto";
import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import type { Config } from "./config.js";
import { authenticationPlugin } from "./http/plugins/authentication.js";
import { createServer, registerApi } from "./http/server.js";
import { ACCESS_TOKEN_CLOCK_TOLERANCE_SECONDS, createAccessTokens } from "./modules/auth/access-tokens.js";
import { authRoutes } from "./modules/auth/auth.routes.js";
import { createAuthService } from "./modules/auth/auth.service.js";
import { createAuthStateCache } from "./modules/auth/auth-state.js";
import { createCredentialThrottle } from "./modules/auth/credential-throttle.js";
import { createArgon2Hasher, type PasswordHasher } from "./modules/auth/password-hasher.js";
import { createRefreshTokensRepository } from "./modules/auth/refresh-tokens.repository.js";
import { type Role, SCOPES } from "./modules/auth/scopes.js";
import { createSessionRevocations } from "./modules/auth/session-revocations.js";
import { loadSigningKeys } from "./modules/auth/signing-keys.js";
import { backupsRoutes } from "./modules/backups/backups.routes.js";
import { createFilesRepository } from "./modules/files/files.repository.js";
import { filesRoutes } from "./modules/files/files.routes.js";
import { createFilesService } from "./modules/files/files.service.js";
import { healthRoutes } from "./modules/health/health.routes.js";
import { jobsRoutes } from "./modules/jobs/jobs.routes.js";
import { watchWorkerPresence } from "./modules/jobs/worker-presence.js";
import { LIVE_MAX_PAYLOAD, liveRoutes, SOCKET_SLOT_LEASE_MS } from "./modules/live/live.routes.js";
import { createLiveHub } from "./modules/live/live-hub.js";
import { createSocketSlots } from "./modules/live/socket-slots.js";
import { withPostsCache } from "./modules/posts/posts.cache.js";
import { toPostResponse } from "./modules/posts/posts.mappers.js";
import { createPostsRepository } from "./modules/posts/posts.repository.js";
import { postsRoutes } from "./modules/posts/posts.routes.js";
import { createPostsService } from "./modules/posts/posts.service.js";
import { createSearchRepository, useOneBackend } from "./modules/search/search.repository.js";
import { searchRoutes } from "./modules/search/search.routes.js";
import { createSearchService } from "./modules/search/search.service.js";
import { createSearchAdmission } from "./modules/search/search-admission.js";
import { createTransfersRepository } from "./modules/transfers/transfers.repository.js";
import { transfersRoutes } from "./modules/transfers/transfers.routes.js";
import { createTransfersService } from "./modules/transfers/transfers.service.js";
import { createSignupThrottle } from "./modules/users/signup-throttle.js";
import { withUsersCache } from "./modules/users/users.cache.js";
import { createUsersRepository } from "./modules/users/users.repository.js";
import { usersRoutes } from "./modules/users/users.routes.js";
import { createUsersService } from "./modules/users/users.service.js";
import { withFallback } from "./platform/cache/fallback-cache.js";
import { type Cache, openCache } from "./platform/cache/index.js";
import { createMemoryCache } from "./platform/cache/memory-cache.js";
import { createReadThroughCache } from "./platform/cache/read-through.js";
import type { Database } from "./platform/database/index.js";
import { createOutboxRepository, type LiveEvent } from "./platform/events/outbox.js";
import { EVENTS_CHANNEL, startOutboxRelay } from "./platform/events/outbox-relay.js";
import { type JobQueue, openJobQueue } from "./platform/jobs/index.js";
import { type Mailer, openMailer } from "./platform/mailer/index.js";
import { type Metrics, noMetrics, sqlOperation } from "./platform/metrics/metrics.js";
import { createMetrics } from "./platform/metrics/prometheus.js";
import { openPubSub, type PubSub } from "./platform/pubsub/index.js";
import { type ObjectStorage, openStorage } from "./platform/storage/index.js";
import { settledWithin } from "./shared/timeouts.js";
import { startJobProcessing } from "./worker.js";

const OUTBOX_POLL_MS = 50;

export interface AppDependencies {
  database: Database;
  /** Shared state with expiry; when omitted, opened from config (and closed with the app). */
  cache?: Cache;
  /** Fan-out between instances; when omitted, opened from config (and closed with the app). */
  pubsub?: PubSub;
  /** Background jobs; when omitted, opened from config (and closed with the app). */
  jobs?: JobQueue;
  mailer?: Mailer;
  /** Uploaded files; when omitted, opened from config (under DATA_DIR/files). */
  storage?: ObjectStorage;
  logger?: Logger;
  passwordHasher?: PasswordHasher;
  /** How soon a missing `kaira worker` is reported (tests shorten the minute). */
  workerPresence?: { missingAfterMs: number; checkEveryMs: number };
  /**
   * Revoked-session records; by default the cache when it is Redis, else a store of this
   * process's own that no other data can crowd out. Instances sharing a process pass one.
   */
  revocationStore?: Cache;
  /** Where metrics are recorded; when omitted, a registry of this app's own (or none when metrics are off). */
  metrics?: Metrics;
  /** Behaviour only tests may ask for; nothing in configuration reaches these. */
  testHooks?: {
    /** Every search first takes this long (on PostgreSQL inside its statement, holding its connection). */
    searchDelayMs?: number;
  };
}

declare module "fastify" {
  interface FastifyInstance {
    database: Database;
    cache: Cache;
    /** Where revoked sessions are recorded (see AppDependencies.revocationStore). */
    revocationStore: Cache;
    jobs: JobQueue;
  }
}

/**
 * The composition root: every adapter, service and route is wired here, once. `main.ts`
 * and the tests build the same app, differing only in config and the database they pass.
 */
export async function buildApp(config: Config, deps: AppDependencies): Promise<FastifyInstance> {
  const metrics = deps.metrics ?? (config.metrics.enabled ? createMetrics() : noMetrics);
  const stopTimingQueries = deps.database.onQueryTimed((query) =>
    metrics.dbQueryDuration.observe({ operation: sqlOperation(query.sql) }, query.seconds),
  );
  metrics.observe({ databasePool: () => deps.database.poolStats() });
  const cache = deps.cache ?? openCache(config);
  // Counters keep counting in this process while a shared cache is unreachable.
  const counters = cache.shared
    ? withFallback(cache, createMemoryCache(), (error) =>
        deps.logger?.warn({ err: error, event: "cache.unavailable" }, "counting in process memory"),
      )
    : cache;
  const app = await createServer(config, {
    ...(deps.logger ? { logger: deps.logger } : {}),
    metrics,
    rateLimitCounters: counters,
    oauth2Scopes: SCOPES,
    websocketMaxPayload: LIVE_MAX_PAYLOAD,
  });
  app.addHook("onClose", async () => stopTimingQueries());
  if (!deps.cache) app.addHook("onClose", async () => cache.close());
  app.decorate("cache", cache);
  app.decorate("database", deps.database);

  // Hot reads (single posts, the feed's first page, profiles) go through the cache; a
  // failing cache is reported at most every 10 s and the reads go to the database.
  let lastCacheWarning = 0;
  const readThrough = (name: string) =>
    createReadThroughCache(cache, {
      ttlMs: config.cacheTtlSeconds * 1000,
      onError: (error) => {
        metrics.cacheErrors.inc({ cache: name });
        if (Date.now() - lastCacheWarning < 10_000) return;
        lastCacheWarning = Date.now();
        app.log.warn({ err: error, event: "cache.unavailable" }, "reading from the database");
      },
      onLookup: (_key, hit) => (hit ? metrics.cacheHits : metrics.cacheMisses).inc({ cache: name }),
    });
  const passwordHasher = deps.passwordHasher ?? createArgon2Hasher();
  const db = deps.database.db;
  const jobs = deps.jobs ?? openJobQueue(config, db);
  app.decorate("jobs", jobs);
  const usersRepository = createUsersRepository(db, (executor, job) => jobs.record(executor, job));
  const refreshTokensRepository = createRefreshTokensRepository(db);
  const accessTokens = createAccessTokens(loadSigningKeys(config), config.auth);
  const authState = createAuthStateCache(
    cache,
    async (userId) => {
      const user = await usersRepository.findById(userId);
      return user && { tokenVersion: user.tokenVersion, isActive: user.isActive, role: user.role as Role };
    },
    (error) => {
      metrics.cacheErrors.inc({ cache: "auth_state" });
      app.log.warn({ err: error, event: "cache.unavailable" }, "auth state read from the database");
    },
    (hit) => (hit ? metrics.cacheHits : metrics.cacheMisses).inc({ cache: "auth_state" }),
  );
  const pubsub = deps.pubsub ?? openPubSub(config);
  // Records of revoked sessions must outlive the access tokens they void, so in memory they
  // get a store of their own: hot reads filling the cache can never evict one.
  const revocationStore =
    deps.revocationStore ?? (cache.shared ? cache : createMemoryCache({ maxEntries: 1_000_000 }));
  app.decorate("revocationStore", revocationStore);
  const sessionRevocations = createSessionRevocations({
    store: revocationStore,
    pubsub,
    recordTtlMs: (config.auth.accessTokenTtlSeconds + ACCESS_TOKEN_CLOCK_TOLERANCE_SECONDS) * 1000,
    revokedInDatabase: (sessionId) => refreshTokensRepository.isFamilyRevoked(sessionId),
    onError: (error, event) => app.log.warn({ err: error, event }, "session revocation store unavailable"),
  });
  // One throttle for every check of a secret: logins and the current password alike.
  const credentialThrottle = createCredentialThrottle(counters, config.auth);
  const postsRepository = createPostsRepository(db);
  // Writes that commit a live event wake this instance's outbox relay, so the event goes
  // out at once rather than at the next poll.
  let relay: ReturnType<typeof startOutboxRelay> | undefined;
  const wakeRelay = () => relay?.wake();
  const postsService = withPostsCache(
    createPostsService({ postsRepository, afterEventsCommitted: wakeRelay }),
    readThrough("posts"),
    (authorId) => postsRepository.idsByAuthor(authorId),
  );
  const usersService = withUsersCache(
    createUsersService({
      usersRepository,
      passwordHasher,
      refreshTokensRepository,
      authState,
      sessionRevocations,
      credentialThrottle,
      signupThrottle: createSignupThrottle(counters, config.signupPerHour),
    }),
    readThrough("profiles"),
    (userId) => postsService.invalidateAuthor(userId),
  );
  const authService = createAuthService({
    usersRepository,
    refreshTokensRepository,
    passwordHasher,
    accessTokens,
    credentialThrottle,
    sessionRevocations,
    config: config.auth,
    dummyHash: await passwordHasher.hash(randomBytes(16).toString("hex")),
  });
  const storage = deps.storage ?? openStorage(config);
  const uncachedFilesService = createFilesService({
    filesRepository: createFilesRepository(db, (executor, job) => jobs.record(executor, job)),
    storage,
    config: config.uploads,
    // Posts that listed a deleted file changed: live clients hear post.updated.
    postsChanged: (tx, postIds) =>
      postsRepository.recordChanged(tx, postIds, (saved) => ({
        topic: "post.updated",
        userId: null,
        payload: toPostResponse(saved),
      })),
  });
  // A deleted file leaves the posts that listed it: their cached copies go too.
  const filesService: typeof uncachedFilesService = {
    ...uncachedFilesService,
    async deleteFile(actor, id) {
      const postIds = await uncachedFilesService.deleteFile(actor, id);
      await postsService.invalidatePosts(postIds);
      if (postIds.length > 0) wakeRelay();
      return postIds;
    },
  };
  const searchRepositoryOptions = {
    rankWindow: config.search.rankWindow,
    // A slow search holds a real connection on PostgreSQL. The embedded database would stop
    // the whole process for a statement's duration, so there the delay is spent beside it.
    ...(deps.testHooks?.searchDelayMs && !deps.database.runsInThisProcess
      ? { sleepForTestsMs: deps.testHooks.searchDelayMs }
      : {}),
  };
  const embeddedSearchDelayMs = deps.database.runsInThisProcess ? (deps.testHooks?.searchDelayMs ?? 0) : 0;
  const searchService = createSearchService({
    runSearch: (timeoutMs, work) =>
      deps.database.withStatementTimeout(timeoutMs, async (tx) => {
        if (!deps.database.runsInThisProcess) await useOneBackend(tx);
        if (embeddedSearchDelayMs) await new Promise((resolve) => setTimeout(resolve, embeddedSearchDelayMs));
        return work(createSearchRepository(tx, searchRepositoryOptions));
      }),
    admission: createSearchAdmission({
      concurrency: config.search.concurrency,
      // A short queue: as many waiting as running, so a burst is smoothed, not stored up.
      queueLength: config.search.concurrency,
      perClient: config.search.concurrencyPerClient,
    }),
    timeoutMs: config.search.timeoutMs,
    onTimeout: (route) =>
      app.log.warn(
        { event: "search.timeout", route, timeout_ms: config.search.timeoutMs },
        "search stopped by its timeout",
      ),
  });
  const transfersRepository = createTransfersRepository(db);
  const transfersService = createTransfersService({
    transfersRepository,
    onRetry: (code, attempt) =>
      app.log.warn({ event: "transfer.retried", sqlstate: code, attempt }, "transaction retried"),
    afterEventsCommitted: wakeRelay,
    onOutcome: (outcome) => metrics.transfers.inc({ outcome }),
  });

  const outbox = createOutboxRepository(db);
  const liveHub = createLiveHub(metrics);
  // The per-user socket cap holds across instances: with Redis the slots live in the shared
  // counters (in process memory while Redis is down); in process they share the revocation
  // store, which other keys (throttle counters, say) cannot crowd out.
  const socketSlots = createSocketSlots(cache.shared ? counters : revocationStore, {
    perUser: config.wsMaxSocketsPerUser,
    leaseMs: SOCKET_SLOT_LEASE_MS,
  });
  const unsubscribers: (() => Promise<void>)[] = [];
  app.addHook("onReady", async () => {
    // Wait briefly for the subscriptions; with Redis down, start anyway — ioredis subscribes
    // once it connects, and the API serves everything but live fan-out meanwhile (sockets
    // are still re-checked on every heartbeat).
    const subscribed = [
      pubsub.subscribe(EVENTS_CHANNEL, (message) => {
        // Runs inside the subscriber's 'message' event: a throw here would escape to the process.
        try {
          liveHub.deliver(JSON.parse(message) as LiveEvent);
        } catch (error) {
          app.log.warn({ err: error, event: "live.delivery_failed" }, "a live event could not be delivered");
        }
      }),
      sessionRevocations.subscribe((revoked) => liveHub.endSessions(revoked)),
    ].map((subscription) =>
      subscription.then((off) => {
        unsubscribers.push(off);
      }),
    );
    for (const subscription of subscribed) {
      subscription.catch((error: unknown) =>
        app.log.warn({ err: error, event: "pubsub.subscribe_failed" }, "live events unavailable"),
      );
    }
    await settledWithin(subscribed, 2_000);
    relay = startOutboxRelay({
      outbox,
      pubsub,
      intervalMs: OUTBOX_POLL_MS,
      onError: (error) =>
        app.log.warn({ err: error, event: "outbox.relay_failed" }, "outbox relay failed; will retry"),
    });
  });
  app.addHook("onClose", async () => {
    await relay?.stop();
    // The connection may already be gone.
    await Promise.all(unsubscribers.map((off) => off().catch(() => {})));
    if (!deps.pubsub) await pubsub.close();
  });

  metrics.observe({
    outboxLagSeconds: () => outbox.oldestUnpublishedAgeSeconds(),
    jobCounts: () => jobs.counts(),
    oldestWaitingJobAgeSeconds: () => jobs.oldestWaitingAgeSeconds(),
  });
  // With workers running the jobs, the API watches that at least one is there.
  const watchWorkers = jobs.seesOtherProcessesWorkers && !config.jobs.inProcess;
  const workerPresence = watchWorkers
    ? watchWorkerPresence({
        jobs,
        missingAfterMs: deps.workerPresence?.missingAfterMs ?? 60_000,
        checkEveryMs: deps.workerPresence?.checkEveryMs ?? 15_000,
        onMissing: (message) => app.log.warn({ event: "jobs.no_worker" }, message),
        onBack: () => app.log.info({ event: "jobs.worker_seen" }, "a kaira worker is running again"),
      })
    : undefined;
  app.addHook("onClose", async () => workerPresence?.stop());
  await app.register(authenticationPlugin, { accessTokens, authState, sessionRevocations });
  await app.register(healthRoutes, {
    ...(workerPresence ? { warnings: [{ name: "workers", current: workerPresence.warning }] } : {}),
    checks: [
      { name: "database", check: () => deps.database.ping() },
      ...(cache.shared ? [{ name: cache.engine, check: () => cache.ping() }] : []),
    ],
    isDraining: () => app.lifecycle.draining,
  });
  await registerApi(app, [
    async (api) => api.register(authRoutes, { authService }),
    async (api) => api.register(usersRoutes, { usersService }),
    async (api) => api.register(postsRoutes, { postsService }),
    async (api) => api.register(filesRoutes, { filesService, config: config.uploads }),
    async (api) => api.register(searchRoutes, { searchService }),
    async (api) => api.register(transfersRoutes, { transfersService }),
    async (api) =>
      api.register(liveRoutes, { hub: liveHub, outbox, corsOrigins: config.corsOrigins, slots: socketSlots }),
    async (api) => api.register(jobsRoutes, { jobs }),
    async (api) => api.register(backupsRoutes, { config: config.backups, jobs, db }),
  ]);

  const { adminEmail, adminPassword } = config;
  if (adminEmail && adminPassword) {
    app.addHook("onReady", async () => {
      const { result, user } = await usersService.ensureAdmin(adminEmail, adminPassword);
      if (result === "created")
        app.log.info({ event: "user.admin_bootstrapped", user_id: user.id }, "admin account created");
    });
  }

  const mailer =
    deps.mailer ??
    openMailer(config.mail, (message, path) =>
      app.log.info(
        { event: "mail.written", to: message.to, subject: message.subject, path },
        "mail written to file",
      ),
    );
  app.addHook("onReady", async () => {
    jobs.startRelay((error) =>
      app.log.warn({ err: error, event: "jobs.relay_failed" }, "job relay failed; will retry"),
    );
    // The embedded default runs its jobs here; with workers (`kaira worker`) the API only records them.
    if (config.jobs.inProcess) {
      startJobProcessing(jobs, {
        database: deps.database,
        mailer,
        storage,
        logger: app.log as unknown as Logger,
        concurrency: config.jobs.concurrency,
        backups: config.backups,
        metrics,
      });
    }
  });
  app.addHook("onClose", async () => {
    // In-process jobs get their grace within the API's own shutdown deadline.
    const graceSeconds = Math.min(
      config.jobs.shutdownSeconds,
      Math.max(1, config.shutdownTimeoutSeconds - 5),
    );
    if (!deps.jobs) await jobs.close(graceSeconds * 1000);
    if (!deps.mailer) await mailer.close();
  });

  return app;
}
