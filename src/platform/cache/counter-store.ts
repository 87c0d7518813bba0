import type { Cache } from "./cache.js";

interface Entry {
  value: string;
  expiresAt: number;
}

/**
 * The in-process store of security state: failure counters, throttle blocks, rate-limit
 * counts and pending sign-ins. It is not the read cache: no read of a post or a profile can
 * push anything out of it, and reading an entry never changes what would go first.
 *
 * Bounded, with an eviction that keeps what matters:
 * - expired entries are swept (at most once a second, and whenever the store is full);
 * - entries written with `set`/`setIfAbsent` (a throttle's block, a pending sign-in, its
 *   claim) are never evicted before they expire: a block always runs its course. They cannot
 *   pile up beyond what the counters allow: a block is written only when a counter crosses
 *   its threshold, a pending sign-in only after a correct password, and both expire within
 *   minutes;
 * - when the store is still full, the oldest counters (`increment`) go first: the ones
 *   closest to the end of their window, whose loss costs the least. An attacker who floods
 *   the store with fresh counters from many addresses can at worst make old counts restart;
 *   blocks already in force stay, and the second-factor count that matters most is kept in
 *   the database (see the MFA module).
 */
export function createCounterStore(options: { maxEntries?: number; now?: () => number } = {}): Cache {
  const maxEntries = options.maxEntries ?? 500_000;
  const now = options.now ?? Date.now;
  /** `increment`ed entries, oldest first (insertion order). */
  const counters = new Map<string, Entry>();
  /** `set` entries: never evicted before they expire. */
  const held = new Map<string, Entry>();
  let lastSweep = 0;

  const live = (entry: Entry | undefined) => (entry && entry.expiresAt > now() ? entry : undefined);
  const find = (key: string): Entry | undefined => {
    const entry = counters.get(key) ?? held.get(key);
    if (entry && entry.expiresAt <= now()) {
      counters.delete(key);
      held.delete(key);
      return undefined;
    }
    return entry;
  };

  function sweep(force: boolean) {
    const at = now();
    if (!force && at - lastSweep < 1_000) return;
    lastSweep = at;
    for (const map of [counters, held])
      for (const [key, entry] of map) if (entry.expiresAt <= at) map.delete(key);
  }

  /** Makes room for one more entry: expired ones first, then the oldest counters. */
  function makeRoom() {
    if (counters.size + held.size < maxEntries) return;
    sweep(now() - lastSweep >= 1_000);
    while (counters.size + held.size >= maxEntries && counters.size > 0) {
      const oldest = counters.keys().next().value;
      if (oldest === undefined) break;
      counters.delete(oldest);
    }
  }

  const hold = (key: string, value: string, ttlMs: number) => {
    counters.delete(key);
    held.delete(key);
    makeRoom();
    held.set(key, { value, expiresAt: now() + ttlMs });
  };

  return {
    shared: false,
    engine: "memory",
    async get(key) {
      return find(key)?.value;
    },
    async set(key, value, ttlMs) {
      hold(key, value, ttlMs);
    },
    async setIfAbsent(key, value, ttlMs) {
      if (find(key)) return false;
      hold(key, value, ttlMs);
      return true;
    },
    async delete(key) {
      counters.delete(key);
      held.delete(key);
    },
    async increment(key, ttlMs) {
      const entry = find(key);
      if (entry) {
        entry.value = String(Number(entry.value) + 1);
        return Number(entry.value);
      }
      makeRoom();
      counters.set(key, { value: "1", expiresAt: now() + ttlMs });
      return 1;
    },
    async ttl(key) {
      const entry = live(find(key));
      return entry ? entry.expiresAt - now() : 0;
    },
    async ping() {},
    async close() {
      counters.clear();
      held.clear();
    },
  };
}
