import { randomBytes } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { createCounterStore } from "../../src/platform/cache/counter-store.js";
import type { Cache } from "../../src/platform/cache/index.js";
import { createMemoryCache } from "../../src/platform/cache/memory-cache.js";
import { createRedisCache } from "../../src/platform/cache/redis-cache.js";
import { waitFor } from "../helpers/process.js";

// One contract, run against every adapter: the Redis one whenever REDIS_URL is set.
const adapters: [string, () => Cache][] = [
  ["memory", () => createMemoryCache()],
  ["counter store", () => createCounterStore()],
];
if (process.env.REDIS_URL) {
  const url = process.env.REDIS_URL;
  adapters.push([
    "redis",
    () => createRedisCache(url, { keyPrefix: `kaira-test:${randomBytes(6).toString("hex")}:` }),
  ]);
}

describe.each(adapters)("cache contract: %s", (_name, create) => {
  const cache = create();
  afterAll(() => cache.close());

  it("sets, gets and deletes", async () => {
    expect(await cache.get("a")).toBeUndefined();
    await cache.set("a", "1", 10_000);
    expect(await cache.get("a")).toBe("1");
    await cache.delete("a");
    expect(await cache.get("a")).toBeUndefined();
  });

  it("expires entries", async () => {
    await cache.set("short", "x", 50);
    expect(await cache.ttl("short")).toBeGreaterThan(0);
    await waitFor(async () => (await cache.get("short")) === undefined, 2_000, "expiry");
    expect(await cache.ttl("short")).toBe(0);
  });

  it("sets only when absent", async () => {
    expect(await cache.setIfAbsent("nx", "first", 10_000)).toBe(true);
    expect(await cache.setIfAbsent("nx", "second", 10_000)).toBe(false);
    expect(await cache.get("nx")).toBe("first");
  });

  it("increments a counter whose window starts at the first hit", async () => {
    expect(await cache.increment("n", 10_000)).toBe(1);
    expect(await cache.increment("n", 10_000)).toBe(2);
    const ttl = await cache.ttl("n");
    expect(ttl).toBeGreaterThan(9_000);
    expect(ttl).toBeLessThanOrEqual(10_000);
    const counts = await Promise.all(Array.from({ length: 20 }, () => cache.increment("parallel", 10_000)));
    expect(new Set(counts).size).toBe(20);
  });

  it("answers ping", async () => {
    await expect(cache.ping()).resolves.toBeUndefined();
  });
});

it("the memory adapter evicts the least recently used entry when full", async () => {
  const cache = createMemoryCache({ maxEntries: 2 });
  await cache.set("a", "1", 10_000);
  await cache.set("b", "2", 10_000);
  await cache.get("a");
  await cache.set("c", "3", 10_000);
  expect(await cache.get("b")).toBeUndefined();
  expect(await cache.get("a")).toBe("1");
});

it("the redis adapter fails fast when Redis is unreachable", async () => {
  const cache = createRedisCache("redis://127.0.0.1:1/0");
  const started = Date.now();
  await expect(cache.get("x")).rejects.toThrow();
  expect(Date.now() - started).toBeLessThan(3_000);
  await cache.close();
});
