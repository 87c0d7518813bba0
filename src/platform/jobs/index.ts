import type { Config } from "../../config.js";
import type { Db } from "../database/index.js";
import { createBullmqJobQueue } from "./bullmq-jobs.js";
import { createEmbeddedJobQueue } from "./embedded-jobs.js";
import type { JobQueue } from "./jobs.js";

export * from "./jobs.js";

/** Chosen once from config: BullMQ when REDIS_URL is set, else the runner in the database. */
export function openJobQueue(
  config: Pick<Config, "redisUrl" | "jobs">,
  db: Db,
  options: { redisPrefix?: string } = {},
): JobQueue {
  const { attempts, leaseSeconds } = config.jobs;
  return config.redisUrl
    ? createBullmqJobQueue(db, {
        redisUrl: config.redisUrl,
        ...(options.redisPrefix ? { prefix: options.redisPrefix } : {}),
        attempts,
        leaseMs: leaseSeconds * 1000,
      })
    : createEmbeddedJobQueue(db, { attempts, leaseMs: leaseSeconds * 1000 });
}
