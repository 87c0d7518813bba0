import type { Cache } from "../../platform/cache/index.js";
import { retryInBackground } from "../../shared/timeouts.js";
import type { Role } from "./scopes.js";

/** What every authenticated request must know about its user, fresh. */
export interface AuthState {
  tokenVersion: number;
  isActive: boolean;
  role: Role;
  /**
   * Whether the current email was proven. Entries cached by an older version lack it and
   * read as verified for the few minutes they live: the login check still reads the database.
   */
  emailVerified?: boolean;
}

const TTL_MS = 10 * 60 * 1000;
const key = (userId: number) => `auth:user:${userId}`;

// How often a publish the cache refused is followed up, until the cache takes it.
const RETRY_EVERY_MS = 1_000;

/**
 * A per-user cache of AuthState in the cache port, so checking an access token against
 * revocation costs a cache read rather than a database query. Writers `publish` the new
 * state after their commit; readers fill a miss with `setIfAbsent`, so a reader that loaded
 * the row before the write can never overwrite what the writer published.
 */
export function createAuthStateCache(
  cache: Cache,
  load: (userId: number) => Promise<AuthState | undefined>,
  onCacheError: (error: unknown) => void = () => {},
  onLookup: (hit: boolean) => void = () => {},
) {
  return {
    /** From the cache when it answers; from the database when it does not (never stale). */
    async get(userId: number): Promise<AuthState | undefined> {
      let cached: string | undefined;
      try {
        cached = await cache.get(key(userId));
      } catch (error) {
        onCacheError(error);
        return load(userId);
      }
      onLookup(cached !== undefined);
      if (cached !== undefined) return cached === "" ? undefined : (JSON.parse(cached) as AuthState);
      const state = await load(userId);
      await cache.setIfAbsent(key(userId), state ? JSON.stringify(state) : "", TTL_MS).catch(onCacheError);
      return state;
    },
    /**
     * After a committed change. The change itself is not undone when the cache refuses it:
     * readers that cannot reach the cache ask the database anyway, but readers that can would
     * keep the old state, a revoked token included, until it expires. So a refused publish is
     * followed by a delete, tried again every second until the cache takes it or the old entry
     * has expired: with the entry gone, the next check reads the committed row. A delete, not
     * the state again, because a newer change (from any instance) may have been published
     * meanwhile, and a late copy of this one would undo it.
     */
    async publish(userId: number, state: AuthState): Promise<void> {
      try {
        await cache.set(key(userId), JSON.stringify(state), TTL_MS);
      } catch (error) {
        onCacheError(error);
        retryInBackground(() => cache.delete(key(userId)), {
          everyMs: RETRY_EVERY_MS,
          deadline: Date.now() + TTL_MS,
          onError: onCacheError,
        });
      }
    },
  };
}

export type AuthStateCache = ReturnType<typeof createAuthStateCache>;
