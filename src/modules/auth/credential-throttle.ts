import type { AuthConfig } from "../../config.js";
import type { Cache } from "../../platform/cache/index.js";
import { clientAddressKey } from "../../shared/client-address.js";
import { DomainError, retryAfter } from "../../shared/errors.js";

export class TooManyAttemptsError extends DomainError {
  constructor(retryAfterSeconds: number) {
    super(429, "too_many_attempts", `Too many failed attempts; try again in ${retryAfterSeconds} s`, {
      headers: retryAfter(retryAfterSeconds),
    });
  }
}

/**
 * Throttling of every check of a secret (logins, the current password on a password change),
 * following OWASP's advice against both guessing and malicious lockout. Counters live in the
 * cache port, so they hold across instances.
 *
 * - **Per (account, address):** past `maxFailuresPerAccountAndAddress` failures, that address
 *   is refused (429) for that account for lockoutSeconds × 2^(failures past the threshold),
 *   capped at the failure window.
 * - **Per address:** past `maxFailuresPerAddress` failures on any accounts, the address is
 *   refused for every account (password spraying, credential stuffing).
 * - **Per account, from all addresses:** past `maxFailuresPerAccount`, the account is under
 *   attack and every address gets a single failure on it before its pair is throttled. This
 *   only slows guessing down: an address with no failures on the account is never refused,
 *   so an attacker cannot lock the owner out.
 *
 * A success clears the pair's and the account's counts, never the address's (an attacker
 * with one valid account must not be able to wipe the count of its spraying).
 *
 * An address is counted by clientAddressKey: IPv6 per /64, which one host usually holds
 * whole, so rotating through its addresses gains nothing.
 */
export function createCredentialThrottle(cache: Cache, config: AuthConfig) {
  const windowMs = config.failureWindowSeconds * 1000;
  const keys = (account: string, clientAddress: string) => {
    const accountKey = account.toLowerCase();
    const address = clientAddressKey(clientAddress);
    return {
      pair: `login:pair:${accountKey}|${address}`,
      address: `login:addr:${address}`,
      account: `login:acct:${accountKey}`,
    };
  };
  const blockFor = (failures: number, threshold: number) =>
    Math.min(config.lockoutSeconds * 1000 * 2 ** (failures - threshold), windowMs);

  async function assertAllowed(account: string, address: string): Promise<void> {
    const k = keys(account, address);
    const remaining = await Promise.all([cache.ttl(`${k.pair}:blocked`), cache.ttl(`${k.address}:blocked`)]);
    const longest = Math.max(...remaining);
    if (longest > 0) throw new TooManyAttemptsError(Math.ceil(longest / 1000));
  }

  async function recordFailure(account: string, address: string): Promise<void> {
    const k = keys(account, address);
    const [pairFailures, addressFailures, accountFailures] = await Promise.all([
      cache.increment(`${k.pair}:failures`, windowMs),
      cache.increment(`${k.address}:failures`, windowMs),
      cache.increment(`${k.account}:failures`, windowMs),
    ]);
    const pairThreshold =
      accountFailures > config.maxFailuresPerAccount ? 1 : config.maxFailuresPerAccountAndAddress;
    const blocks: Promise<void>[] = [];
    if (pairFailures >= pairThreshold)
      blocks.push(cache.set(`${k.pair}:blocked`, "1", blockFor(pairFailures, pairThreshold)));
    if (addressFailures >= config.maxFailuresPerAddress)
      blocks.push(
        cache.set(`${k.address}:blocked`, "1", blockFor(addressFailures, config.maxFailuresPerAddress)),
      );
    await Promise.all(blocks);
  }

  async function recordSuccess(account: string, address: string): Promise<void> {
    const k = keys(account, address);
    await Promise.all([cache.delete(`${k.pair}:failures`), cache.delete(`${k.account}:failures`)]);
  }

  return {
    assertAllowed,
    recordFailure,
    recordSuccess,

    /**
     * Checks a secret under the throttle: refuses (429) a throttled pair or address before
     * doing any work, then counts the outcome. `account` names what the secret guards
     * (`user:<id>`, or the login name for unknown users).
     */
    async check(account: string, address: string, verify: () => Promise<boolean>): Promise<boolean> {
      await assertAllowed(account, address);
      const valid = await verify();
      if (valid) await recordSuccess(account, address);
      else await recordFailure(account, address);
      return valid;
    },
  };
}

export type CredentialThrottle = ReturnType<typeof createCredentialThrottle>;
