import type { Cache } from "../../platform/cache/index.js";
import type { Role } from "./scopes.js";

/** What every authenticated request must know about its user, fresh. */
export interface AuthState {
  tokenVersion: number;
  isActive: boolean;
  role: Role;
}

const TTL_MS = 10 * 60 * 1000;
const key = (userId: number) => `auth:user:${userId}`;

/**
 * A per-user cache of AuthState in the cache port, so checking an access token against
 * revocation costs a cache read rather than a database query. Writers `publish` the new
 * state after their commit; readers fill a miss with `setIfAbsent`, so a reader that loaded
 * the row before the write can never overwrite what the writer published.
 */
export function createAuthStateCache(cache: Cache, load: (userId: number) => Promise<AuthState | undefined>) {
  return {
    async get(userId: number): Promise<AuthState | undefined> {
      const cached = await cache.get(key(userId));
      if (cached !== undefined) return cached === "" ? undefined : (JSON.parse(cached) as AuthState);
      const state = await load(userId);
      await cache.setIfAbsent(key(userId), state ? JSON.stringify(state) : "", TTL_MS);
      return state;
    },
    async publish(userId: number, state: AuthState): Promise<void> {
      await cache.set(key(userId), JSON.stringify(state), TTL_MS);
    },
  };
}

export type AuthStateCache = ReturnType<typeof createAuthStateCache>;
