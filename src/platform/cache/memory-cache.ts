import type { Cache } from "./cache.js";

interface Entry {
  value: string;
  expiresAt: number;
}

/**
 * The embedded adapter: a Map in insertion order used as an LRU (a read moves the entry to
 * the end; the oldest entry goes first when full). Expired entries are dropped when read.
 */
export function createMemoryCache(options: { maxEntries?: number; now?: () => number } = {}): Cache {
  const maxEntries = options.maxEntries ?? 100_000;
  const now = options.now ?? Date.now;
  const entries = new Map<string, Entry>();

  const read = (key: string): Entry | undefined => {
    const entry = entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= now()) {
      entries.delete(key);
      return undefined;
    }
    entries.delete(key);
    entries.set(key, entry);
    return entry;
  };

  const write = (key: string, value: string, ttlMs: number) => {
    entries.delete(key);
    entries.set(key, { value, expiresAt: now() + ttlMs });
    if (entries.size > maxEntries) {
      const oldest = entries.keys().next().value;
      if (oldest !== undefined) entries.delete(oldest);
    }
  };

  return {
    shared: false,
    engine: "memory",
    async get(key) {
      return read(key)?.value;
    },
    async set(key, value, ttlMs) {
      write(key, value, ttlMs);
    },
    async setIfAbsent(key, value, ttlMs) {
      if (read(key)) return false;
      write(key, value, ttlMs);
      return true;
    },
    async delete(key) {
      entries.delete(key);
    },
    async increment(key, ttlMs) {
      const entry = read(key);
      if (!entry) {
        write(key, "1", ttlMs);
        return 1;
      }
      entry.value = String(Number(entry.value) + 1);
      return Number(entry.value);
    },
    async ttl(key) {
      const entry = read(key);
      return entry ? entry.expiresAt - now() : 0;
    },
    async ping() {},
    async close() {
      entries.clear();
    },
  };
}
