import type { Logger } from "pino";
import type { Config } from "../config.js";
import { createCounterStore } from "./cache/counter-store.js";
import { withFallback } from "./cache/fallback-cache.js";
import { type Cache, openCache } from "./cache/index.js";
import { createMemoryCache } from "./cache/memory-cache.js";
import { createReadThroughCache, type ReadThroughCache } from "./cache/read-through.js";
import type { Database } from "./database/index.js";
import { createSharpImageProcessor, type ImageProcessor } from "./images/index.js";
import { type JobQueue, openJobQueue } from "./jobs/index.js";
import { silentLogger } from "./logger.js";
import { type Mailer, openMailer } from "./mailer/index.js";
import { type Metrics, noMetrics, sqlOperation } from "./metrics/metrics.js";
import { createMetrics } from "./metrics/prometheus.js";
import { openPubSub, type PubSub } from "./pubsub/index.js";
import { type ObjectStorage, openStorage } from "./storage/index.js";

/** Every adapter the feature modules are built on, chosen once from config. */
export interface Platform {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  database: Database;
  /** Shared state with expiry: hot reads, per-user auth state. */
  cache: Cache;
  /** Throttles and limits: they keep counting in this process while a shared cache is unreachable. */
  counters: Cache;
  /** Where revoked sessions are recorded (see PlatformAdapters.revocationStore). */
  revocationStore: Cache;
  pubsub: PubSub;
  jobs: JobQueue;
  storage: ObjectStorage;
  mailer: Mailer;
  /** Thumbnails of uploaded images. */
  images: ImageProcessor;
  /** A read-through cache for one kind of hot read, counted under `name` in the metrics. */
  readThrough(name: string): ReadThroughCache;
}

/** Adapters given rather than opened from config; the caller closes those. */
export interface PlatformAdapters {
  /** Shared state with expiry; when omitted, opened from config. */
  cache?: Cache;
  /** Fan-out between instances; when omitted, opened from config. */
  pubsub?: PubSub;
  /** Background jobs; when omitted, opened from config. */
  jobs?: JobQueue;
  mailer?: Mailer;
  /** Uploaded files; when omitted, opened from config (under DATA_DIR/files). */
  storage?: ObjectStorage;
  /** Image processing; when omitted, sharp. */
  images?: ImageProcessor;
  logger?: Logger;
  /**
   * Revoked-session records; by default the cache when it is shared, else a store of this
   * process's own that no other data can crowd out. Instances sharing a process pass one.
   */
  revocationStore?: Cache;
  /**
   * Throttle and rate-limit counters, blocks and pending sign-ins in process memory (when the
   * cache is not shared); by default a store of this process's own (see createCounterStore).
   * Instances sharing a process pass one.
   */
  counterStore?: Cache;
  /** Where metrics are recorded; when omitted, a registry of this platform's own (or none when metrics are off). */
  metrics?: Metrics;
}

export interface OpenedPlatform {
  platform: Platform;
  /**
   * Closes what was opened here (given adapters stay open): the job queue first, giving
   * running jobs up to `jobsGraceMs`, then mail, pub/sub and the cache.
   */
  close(jobsGraceMs: number): Promise<void>;
}

/** Opens the adapters the config asks for, beside those given, on `database` (which the caller owns). */
export function openPlatform(
  config: Config,
  database: Database,
  given: PlatformAdapters = {},
): OpenedPlatform {
  const logger = given.logger ?? silentLogger();
  const metrics = given.metrics ?? (config.metrics.enabled ? createMetrics() : noMetrics);
  const stopTimingQueries = database.onQueryTimed((query) =>
    metrics.dbQueryDuration.observe({ operation: sqlOperation(query.sql) }, query.seconds),
  );
  const cache = given.cache ?? openCache(config);
  // Counters keep counting in this process while a shared cache is unreachable. In memory
  // they never share the read cache: reading many posts must not evict a failure count or a
  // throttle's block (the read cache is an LRU; the counter store evicts no block early).
  const counterStore = given.counterStore ?? createCounterStore();
  const counters = cache.shared
    ? withFallback(cache, counterStore, (error) =>
        logger.warn({ err: error, event: "cache.unavailable" }, "counting in process memory"),
      )
    : counterStore;
  // Records of revoked sessions must outlive the access tokens they void, so in memory they
  // get a store of their own: hot reads filling the cache can never evict one.
  const revocationStore =
    given.revocationStore ?? (cache.shared ? cache : createMemoryCache({ maxEntries: 1_000_000 }));
  const pubsub = given.pubsub ?? openPubSub(config);
  const jobs = given.jobs ?? openJobQueue(config, database.db);
  const storage = given.storage ?? openStorage(config);
  const mailer =
    given.mailer ??
    openMailer(config.mail, (message, path) =>
      logger.info(
        { event: "mail.written", to: message.to, subject: message.subject, path },
        "mail written to file",
      ),
    );
  metrics.observe({
    databasePool: () => database.poolStats(),
    jobCounts: () => jobs.counts(),
    oldestWaitingJobAgeSeconds: () => jobs.oldestWaitingAgeSeconds(),
  });

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
        logger.warn({ err: error, event: "cache.unavailable" }, "reading from the database");
      },
      onLookup: (_key, hit) => (hit ? metrics.cacheHits : metrics.cacheMisses).inc({ cache: name }),
    });

  const platform: Platform = {
    config,
    logger,
    metrics,
    database,
    cache,
    counters,
    revocationStore,
    pubsub,
    jobs,
    storage,
    mailer,
    images: given.images ?? createSharpImageProcessor(),
    readThrough,
  };
  return {
    platform,
    async close(jobsGraceMs) {
      if (!given.jobs) await jobs.close(jobsGraceMs);
      if (!given.mailer) await mailer.close();
      if (!given.pubsub) await pubsub.close();
      if (!given.cache) await cache.close();
      stopTimingQueries();
    },
  };
}
