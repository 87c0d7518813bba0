import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fastifyCors from "@fastify/cors";
import fastifyStatic from "@fastify/static";
import fastifySwagger from "@fastify/swagger";
import fastifySwaggerUi from "@fastify/swagger-ui";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import fastifyWebsocket from "@fastify/websocket";
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import type { Logger } from "pino";
import type { Config } from "./config.js";
import { AccessLog } from "./http/access-log.js";
import { metricsRoutes } from "./http/metrics-endpoint.js";
import { ProblemRef } from "./http/openapi.js";
import { authenticationPlugin } from "./http/plugins/authentication.js";
import {
  clientErrorHandler,
  errorHandlerPlugin,
  frameworkErrorHandler,
} from "./http/plugins/error-handler.js";
import { httpMetricsPlugin } from "./http/plugins/http-metrics.js";
import { rateLimitPlugin } from "./http/plugins/rate-limit.js";
import { requestContextPlugin, requestIdFrom } from "./http/plugins/request-context.js";
import { requestTimeoutPlugin } from "./http/plugins/request-timeout.js";
import { OAuthProblemSchema, ProblemSchema } from "./http/problem.js";
import { validatorCompiler } from "./http/validation.js";
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
import { CLOSE_GOING_AWAY, createLiveHub } from "./modules/live/live-hub.js";
import { createOutboxRepository, type LiveEvent } from "./modules/live/outbox.js";
import { EVENTS_CHANNEL, startOutboxRelay } from "./modules/live/outbox-relay.js";
import { createSocketSlots } from "./modules/live/socket-slots.js";
import { withPostsCache } from "./modules/posts/posts.cache.js";
import { createPostsRepository } from "./modules/posts/posts.repository.js";
import { postsRoutes } from "./modules/posts/posts.routes.js";
import { createPostsService, toPostResponse } from "./modules/posts/posts.service.js";
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

export interface AppLifecycle {
  /** Set on SIGTERM: readiness turns 503 so load balancers stop sending traffic. */
  draining: boolean;
}

declare module "fastify" {
  interface FastifyInstance {
    lifecycle: AppLifecycle;
    database: Database;
    cache: Cache;
    /** Where revoked sessions are recorded (see AppDependencies.revocationStore). */
    revocationStore: Cache;
    jobs: JobQueue;
    metrics: Metrics;
  }
}

const API_DESCRIPTION = `Kaira's public API, version 1.

Errors are \`application/problem+json\` (RFC 9457) with a stable \`code\` and the \`request_id\`;
validation errors are 422 with \`errors[].loc\` naming the first invalid field found. On every operation, a string
(in the body, query, path or a header) that holds a NUL character or an unpaired surrogate is a
422 of type \`string_unsafe_characters\`, and a path with a malformed percent-escape or an
over-long path parameter is a 400 (\`bad_url\`, \`max_param_length\`). Lists are
keyset-paginated: pass \`next_cursor\` back as \`cursor\`; a cursor the API did not hand out
is a 422. JSON answered to a request with an \`Authorization\` header carries
\`Cache-Control: no-store\`. Trailing slashes are ignored.

Under overload any route may answer 503 with \`Retry-After\`: \`database_busy\` (no database
connection came free in time) or \`database_timeout\` (a statement ran past the general
statement timeout). Search has limits of its own (see the search routes).`;

/**
 * The composition root: every adapter, service and route is wired here, once. `main.ts`
 * and the tests build the same app, differing only in config and the database they pass.
 */
export async function buildApp(config: Config, deps: AppDependencies): Promise<FastifyInstance> {
  const app = Fastify({
    ...(deps.logger ? { loggerInstance: deps.logger as FastifyBaseLogger } : { logger: false }),
    genReqId: requestIdFrom,
    logController: new AccessLog(),
    bodyLimit: config.bodyLimitBytes,
    // Fastify's default (0) switches off Node's own limit on slow headers; bodies are timed
    // by requestTimeoutPlugin.
    requestTimeout: config.requestTimeoutSeconds * 1000,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    return503OnClosing: true,
    frameworkErrors: frameworkErrorHandler,
    clientErrorHandler,
    // The client address (throttling, rate limits, logs) comes from X-Forwarded-For only
    // when the request arrives from a configured proxy; anyone else could forge the header.
    trustProxy: config.trustedProxies.length > 0 ? config.trustedProxies : false,
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  // The API speaks JSON (and forms, only on the token endpoint): other bodies get 415.
  app.removeContentTypeParser("text/plain");
  app.decorate("lifecycle", { draining: false } satisfies AppLifecycle);
  app.decorate("database", deps.database);
  const metrics = deps.metrics ?? (config.metrics.enabled ? createMetrics() : noMetrics);
  app.decorate("metrics", metrics);
  await app.register(httpMetricsPlugin, { metrics });
  const stopTimingQueries = deps.database.onQueryTimed((query) =>
    metrics.dbQueryDuration.observe({ operation: sqlOperation(query.sql) }, query.seconds),
  );
  app.addHook("onClose", async () => stopTimingQueries());
  metrics.observe({ databasePool: () => deps.database.poolStats() });
  const cache = deps.cache ?? openCache(config);
  if (!deps.cache) app.addHook("onClose", async () => cache.close());
  app.decorate("cache", cache);
  // Counters keep counting in this process while a shared cache is unreachable.
  const counters =
    cache.kind === "memory"
      ? cache
      : withFallback(cache, createMemoryCache(), (error) =>
          app.log.warn({ err: error, event: "cache.unavailable" }, "counting in process memory"),
        );
  app.addSchema(ProblemSchema);
  app.addSchema(OAuthProblemSchema);

  await app.register(errorHandlerPlugin);
  await app.register(requestContextPlugin, { config });
  await app.register(requestTimeoutPlugin, { timeoutMs: config.requestTimeoutSeconds * 1000 });
  await app.register(rateLimitPlugin, { cache: counters, perMinute: config.rateLimitPerMinute, metrics });
  // No allow-list means no cross-origin access at all (never "any origin"), and no CORS hook.
  if (config.corsOrigins.length > 0) {
    await app.register(fastifyCors, {
      origin: config.corsOrigins.includes("*") ? true : config.corsOrigins,
      credentials: !config.corsOrigins.includes("*"),
      methods: ["GET", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS"],
      exposedHeaders: ["x-request-id", "retry-after"],
    });
  }

  await app.register(fastifySwagger, {
    openapi: {
      openapi: "3.1.0",
      info: { title: "Kaira API", version: "1.0.0", description: API_DESCRIPTION },
      tags: [
        { name: "auth", description: "Tokens: log in, refresh, log out" },
        { name: "users", description: "Sign-up, profiles and accounts" },
        { name: "posts", description: "The community feed" },
        { name: "files", description: "Uploads, downloads and thumbnails" },
        { name: "search", description: "Full-text search of posts and title suggestions" },
        { name: "transfers", description: "Credits: balances, transfers, the ledger" },
        { name: "live", description: "The live WebSocket feed" },
        { name: "admin", description: "Operations for admins: background jobs" },
        { name: "service", description: "Health probes" },
      ],
      components: {
        securitySchemes: {
          OAuth2: {
            type: "oauth2",
            description:
              "Log in with your email or username and password; the docs' Authorize button uses this.",
            flows: {
              password: {
                tokenUrl: "/api/v1/auth/token",
                refreshUrl: "/api/v1/auth/refresh",
                scopes: SCOPES,
              },
            },
          },
        },
      },
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
  });
  // The document is still built (`kaira openapi` prints it); only serving it is optional.
  if (config.docsEnabled) await app.register(fastifySwaggerUi, { routePrefix: "/docs" });

  await app.register(fastifyStatic, { root: config.staticDir, prefix: "/static/", index: ["index.html"] });
  // The landing page: where to find the docs, for a person who opens the server's address.
  if (config.docsEnabled) {
    app.get("/", { schema: { hide: true } }, (_request, reply) => reply.sendFile("index.html"));
  } else {
    // With the documents hidden, the landing page leaves out its links to them.
    const landing = readFileSync(join(config.staticDir, "index.html"), "utf8")
      .split("\n")
      .filter((line) => !line.includes("<!-- docs -->"))
      .join("\n");
    app.get("/", { schema: { hide: true } }, (_request, reply) =>
      reply.type("text/html; charset=utf-8").send(landing),
    );
  }

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
    deps.revocationStore ?? (cache.kind === "redis" ? cache : createMemoryCache({ maxEntries: 1_000_000 }));
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
    ...(deps.testHooks?.searchDelayMs && deps.database.kind === "postgres"
      ? { sleepForTestsMs: deps.testHooks.searchDelayMs }
      : {}),
  };
  const embeddedSearchDelayMs = deps.database.kind === "postgres" ? 0 : (deps.testHooks?.searchDelayMs ?? 0);
  const searchService = createSearchService({
    runSearch: (timeoutMs, work) =>
      deps.database.withStatementTimeout(timeoutMs, async (tx) => {
        if (deps.database.kind === "postgres") await useOneBackend(tx);
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
  const socketSlots = createSocketSlots(cache.kind === "redis" ? counters : revocationStore, {
    perUser: config.wsMaxSocketsPerUser,
    leaseMs: SOCKET_SLOT_LEASE_MS,
  });
  await app.register(fastifyWebsocket, {
    options: { maxPayload: LIVE_MAX_PAYLOAD },
    // Every client (authenticated or not) hears "going away" (1001) before the server stops.
    preClose(done) {
      for (const client of app.websocketServer.clients)
        client.close(CLOSE_GOING_AWAY, "server shutting down");
      app.websocketServer.close(() => done());
    },
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
    openWebSockets: () => app.websocketServer.clients.size,
    outboxLagSeconds: () => outbox.oldestUnpublishedAgeSeconds(),
    jobCounts: () => jobs.counts(),
    oldestWaitingJobAgeSeconds: () => jobs.oldestWaitingAgeSeconds(),
  });
  // With METRICS_PORT, `kaira serve` serves them on a listener of its own instead.
  if (config.metrics.enabled && config.metrics.port === undefined) {
    await app.register(metricsRoutes, { metrics, token: config.metrics.token });
  }

  // With workers running the jobs, the API watches that at least one is there.
  const watchWorkers = jobs.kind === "bullmq" && !config.jobs.inProcess;
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
      ...(cache.kind === "redis" ? [{ name: "redis", check: () => cache.ping() }] : []),
    ],
    isDraining: () => app.lifecycle.draining,
  });
  await app.register(
    async (api) => {
      // Any route that reads the database may find it overloaded (503 database_busy or
      // database_timeout, with Retry-After); every API route documents it.
      api.addHook("onRoute", (route) => {
        const schema = route.schema as { response?: Record<string, unknown>; hide?: boolean } | undefined;
        if (!schema || schema.hide) return;
        schema.response = { 503: ProblemRef, ...schema.response };
      });
      await api.register(authRoutes, { authService });
      await api.register(usersRoutes, { usersService });
      await api.register(postsRoutes, { postsService });
      await api.register(filesRoutes, { filesService, config: config.uploads });
      await api.register(searchRoutes, { searchService });
      await api.register(transfersRoutes, { transfersService });
      await api.register(liveRoutes, {
        hub: liveHub,
        outbox,
        corsOrigins: config.corsOrigins,
        slots: socketSlots,
      });
      await api.register(jobsRoutes, { jobs });
      await api.register(backupsRoutes, { config: config.backups, jobs, db });
    },
    { prefix: "/api/v1" },
  );

  if (config.docsEnabled) app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());

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
