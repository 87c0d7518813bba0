import type { AccountsConfig } from "../../config.js";
import type { Cache } from "../../platform/cache/index.js";
import { DomainError, retryAfter } from "../../shared/errors.js";

export class TooManyMailRequestsError extends DomainError {
  constructor(retryAfterSeconds: number) {
    super(
      429,
      "too_many_requests",
      `Too many account mails asked for from this address; try again in ${retryAfterSeconds} s`,
      { headers: retryAfter(retryAfterSeconds) },
    );
  }
}

const HOUR_MS = 3_600_000;

/**
 * Limits the mails the public account endpoints (verification resend, password reset) can
 * make Kaira send, counted per clock hour in the cache port (shared with Redis):
 * - per client address, across kinds and accounts: past the limit, 429 (the caller is
 *   abusive, and learns nothing about any account from it);
 * - per account address and kind: past the limit the request is answered exactly as
 *   usual but sends nothing. A 429 here would let anyone block a victim's reset; silence
 *   also stops anyone from flooding one mailbox. The count is kept for any address asked
 *   about, registered or not, so neither branch reveals whether an account exists.
 */
export function createAccountMailThrottle(cache: Cache, config: AccountsConfig) {
  return {
    /** Throws 429 past the per-address limit; false when this account's mail of this kind is used up. */
    async admit(kind: string, email: string, address: string): Promise<boolean> {
      const now = Date.now();
      const hour = Math.floor(now / HOUR_MS);
      if (config.mailPerHourPerAddress > 0) {
        const fromAddress = await cache.increment(`acctmail:addr:${address}:${hour}`, HOUR_MS);
        if (fromAddress > config.mailPerHourPerAddress)
          throw new TooManyMailRequestsError(Math.ceil(((hour + 1) * HOUR_MS - now) / 1000));
      }
      const toAccount = await cache.increment(`acctmail:${kind}:${email.toLowerCase()}:${hour}`, HOUR_MS);
      return toAccount <= config.mailPerHourPerAccount;
    },
  };
}

export type AccountMailThrottle = ReturnType<typeof createAccountMailThrottle>;
