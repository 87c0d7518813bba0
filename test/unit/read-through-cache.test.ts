import { describe, expect, it } from "vitest";
import type { Cache } from "../../src/platform/cache/cache.js";
import { createMemoryCache } from "../../src/platform/cache/memory-cache.js";
import { createReadThroughCache } from "../../src/platform/cache/read-through.js";

describe("read-through cache", () => {
  it("keeps a load that read before a write from storing its stale value", async () => {
    const cache = createMemoryCache();
    const readThrough = createReadThroughCache(cache, { ttlMs: 60_000 });
    let release: () => void = () => {};
    const slowLoad = readThrough.get("post:1", async () => {
      await new Promise<void>((resolve) => {
        release = resolve;
      });
      return { title: "old" };
    });
    await readThrough.invalidate("post:1"); // the write commits while the load is in flight
    release();
    expect(await slowLoad).toEqual({ title: "old" }); // that reader started before the write
    expect(await readThrough.get("post:1", async () => ({ title: "new" }))).toEqual({ title: "new" });
    expect(await readThrough.get("post:1", async () => ({ title: "newer" }))).toEqual({ title: "newer" });
  });

  it("serves from the loader, reporting the error, when the cache fails", async () => {
    const failing: Cache = {
      ...createMemoryCache(),
      get: async () => {
        throw new Error("connection refused");
      },
      setIfAbsent: async () => {
        throw new Error("connection refused");
      },
    };
    const errors: unknown[] = [];
    const readThrough = createReadThroughCache(failing, { ttlMs: 60_000, onError: (e) => errors.push(e) });
    expect(await readThrough.get("k", async () => 42)).toBe(42);
    expect(errors).toHaveLength(1);
  });

  it("counts hits and misses, and caches nothing when the TTL is 0", async () => {
    const lookups: boolean[] = [];
    const readThrough = createReadThroughCache(createMemoryCache(), {
      ttlMs: 60_000,
      onLookup: (_key, hit) => lookups.push(hit),
    });
    await readThrough.get("k", async () => "v");
    await readThrough.get("k", async () => "other");
    expect(lookups).toEqual([false, true]);

    let loads = 0;
    const off = createReadThroughCache(createMemoryCache(), { ttlMs: 0 });
    for (let i = 0; i < 3; i++) await off.get("k", async () => ++loads);
    expect(loads).toBe(3);
  });
});
