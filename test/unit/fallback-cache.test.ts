import { describe, expect, it } from "vitest";
import type { Cache } from "../../src/platform/cache/cache.js";
import { withFallback } from "../../src/platform/cache/fallback-cache.js";
import { createMemoryCache } from "../../src/platform/cache/memory-cache.js";

// While Redis is unreachable, counters (throttles, rate limits, socket slots) keep counting in
// this process instead of failing every request or switching the limit off.
function unreachable(): Cache {
  const fail = async () => {
    throw new Error("connect ECONNREFUSED 127.0.0.1:6379");
  };
  return {
    shared: true,
    engine: "redis",
    get: fail,
    set: fail,
    setIfAbsent: fail,
    delete: fail,
    increment: fail,
    ttl: fail,
    ping: fail,
    close: async () => {},
  };
}

describe("withFallback", () => {
  it("answers every operation from the fallback while the primary fails, and reports each failure", async () => {
    const errors: unknown[] = [];
    const cache = withFallback(unreachable(), createMemoryCache(), (error) => errors.push(error));
    expect(await cache.increment("n", 60_000)).toBe(1);
    expect(await cache.increment("n", 60_000)).toBe(2);
    expect(await cache.setIfAbsent("slot", "a", 60_000)).toBe(true);
    expect(await cache.setIfAbsent("slot", "b", 60_000)).toBe(false);
    await cache.set("k", "v", 60_000);
    expect(await cache.get("k")).toBe("v");
    expect(await cache.ttl("k")).toBeGreaterThan(0);
    await cache.delete("k");
    expect(await cache.get("k")).toBeUndefined();
    expect(errors).toHaveLength(9);
    // Health checks see the outage: ping is not answered from the fallback.
    await expect(cache.ping()).rejects.toThrow(/ECONNREFUSED/);
    await cache.close();
  });

  it("uses the primary while it works", async () => {
    const primary = createMemoryCache();
    const fallback = createMemoryCache();
    const cache = withFallback(primary, fallback, () => {
      throw new Error("not expected");
    });
    await cache.set("k", "v", 60_000);
    expect(await primary.get("k")).toBe("v");
    expect(await fallback.get("k")).toBeUndefined();
  });
});
