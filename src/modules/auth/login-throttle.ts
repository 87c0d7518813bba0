import type { AuthConfig } from "../../config.js";
import { DomainError } from "../../http/errors.js";
import type { Cache } from "../../platform/cache/index.js";

export class TooManyAttemptsError extends DomainError {
  constructor(readonly retryAfterSeconds: number) {
    super(429, "too_many_attempts", `Too many failed attempts; try again in ${retryAfterSeconds} s`);
  }
}

/**
 * Failed-login throttling per account and per client address, kept in the cache port so
 * it holds across instances. Past the threshold each further failure blocks that key for
 * lockoutSeconds × 2^(failures past the threshold), capped at the failure window. A success
 * clears the account's count. Blocks are temporary, so an attacker cannot lock an owner out
 * for good (no permanent lockout).
 */
export function createLoginThrottle(cache: Cache, config: AuthConfig) {
  const windowMs = config.failureWindowSeconds * 1000;
  const keys = (account: string, address: string) => [
    { id: `login:acct:${account.toLowerCase()}`, max: config.maxFailuresPerAccount },
    { id: `login:addr:${address}`, max: config.maxFailuresPerAddress },
  ];

  return {
    /** Throws TooManyAttemptsError while either key is blocked. */
    async assertAllowed(account: string, address: string): Promise<void> {
      const remaining = await Promise.all(keys(account, address).map((k) => cache.ttl(`${k.id}:blocked`)));
      const longest = Math.max(...remaining);
      if (longest > 0) throw new TooManyAttemptsError(Math.ceil(longest / 1000));
    },

    async recordFailure(account: string, address: string): Promise<void> {
      await Promise.all(
        keys(account, address).map(async (k) => {
          const failures = await cache.increment(`${k.id}:failures`, windowMs);
          if (failures >= k.max) {
            const blockMs = Math.min(config.lockoutSeconds * 1000 * 2 ** (failures - k.max), windowMs);
            await cache.set(`${k.id}:blocked`, "1", blockMs);
          }
        }),
      );
    },

    async recordSuccess(account: string): Promise<void> {
      await cache.delete(`login:acct:${account.toLowerCase()}:failures`);
    },
  };
}

export type LoginThrottle = ReturnType<typeof createLoginThrottle>;
