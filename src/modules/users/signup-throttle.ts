import type { Cache } from "../../platform/cache/index.js";
import { DomainError, retryAfter } from "../../shared/errors.js";

export class TooManySignupsError extends DomainError {
  constructor(retryAfterSeconds: number) {
    super(
      429,
      "too_many_signups",
      `Too many sign-ups from this address; try again in ${retryAfterSeconds} s`,
      { headers: retryAfter(retryAfterSeconds) },
    );
  }
}

const HOUR_MS = 3_600_000;

/**
 * Sign-ups per client address and clock hour, counted in the cache port (shared by every
 * instance with Redis). Every attempt counts, since each costs a password hash; 0 turns the
 * limit off.
 */
export function createSignupThrottle(cache: Cache, perHour: number) {
  return {
    async assertAllowed(address: string): Promise<void> {
      if (perHour === 0) return;
      const now = Date.now();
      const hour = Math.floor(now / HOUR_MS);
      const count = await cache.increment(`signup:${address}:${hour}`, HOUR_MS);
      if (count > perHour) throw new TooManySignupsError(Math.ceil(((hour + 1) * HOUR_MS - now) / 1000));
    },
  };
}

export type SignupThrottle = ReturnType<typeof createSignupThrottle>;
