import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type AuthState, createAuthStateCache } from "../../src/modules/auth/auth-state.js";
import type { Cache } from "../../src/platform/cache/cache.js";
import { createMemoryCache } from "../../src/platform/cache/memory-cache.js";

const before: AuthState = { tokenVersion: 0, isActive: true, role: "user", emailVerified: true };
const deactivated: AuthState = { tokenVersion: 1, isActive: false, role: "user", emailVerified: true };

/** A cache whose writes fail `failures` times (set and delete alike), reads never. */
function flakyCache(inner: Cache, failures: number): Cache & { refused: () => number } {
  let left = failures;
  let refused = 0;
  const refuse = <T>(work: () => Promise<T>) => {
    if (left > 0) {
      left--;
      refused++;
      return Promise.reject(new Error("cache unreachable"));
    }
    return work();
  };
  return {
    ...inner,
    get: (key) => inner.get(key),
    set: (key, value, ttl) => refuse(() => inner.set(key, value, ttl)),
    delete: (key) => refuse(() => inner.delete(key)),
    setIfAbsent: (key, value, ttl) => inner.setIfAbsent(key, value, ttl),
    refused: () => refused,
  };
}

describe("the auth state's publish after a committed change", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("when the cache refuses it, removes the old entry as soon as the cache takes a delete", async () => {
    const memory = createMemoryCache();
    let inDatabase = before;
    const cache = flakyCache(memory, 3);
    const states = createAuthStateCache(cache, async () => inDatabase);
    // A reader cached the state before the change.
    expect(await states.get(1)).toEqual(before);
    // The change commits; its publish is refused (1), and so are the next two deletes (2, 3).
    inDatabase = deactivated;
    await states.publish(1, deactivated);
    expect(await states.get(1)).toEqual(before); // stale while the cache refuses writes
    await vi.advanceTimersByTimeAsync(1_000);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await states.get(1)).toEqual(before);
    // The third delete is taken: the next check reads the committed row.
    await vi.advanceTimersByTimeAsync(1_000);
    expect(cache.refused()).toBe(3);
    expect(await states.get(1)).toEqual(deactivated);
  });

  it("never writes its own state late over a newer one", async () => {
    const memory = createMemoryCache();
    const cache = flakyCache(memory, 1);
    const states = createAuthStateCache(cache, async () => before);
    await states.publish(1, deactivated); // refused: followed up by deletes only
    await states.publish(1, before); // a newer change, published
    await vi.advanceTimersByTimeAsync(1_000);
    // The follow-up may remove the entry (readers then load the row), never write the older
    // `deactivated` back over `before`, as a retried set would.
    expect(await memory.get("auth:user:1")).not.toBe(JSON.stringify(deactivated));
  });

  it("gives up once the old entry would have expired anyway", async () => {
    const memory = createMemoryCache();
    const cache = flakyCache(memory, Number.POSITIVE_INFINITY);
    const states = createAuthStateCache(cache, async () => before);
    await states.publish(1, deactivated);
    await vi.advanceTimersByTimeAsync(11 * 60 * 1000);
    const refusedThen = cache.refused();
    await vi.advanceTimersByTimeAsync(60 * 1000);
    expect(cache.refused()).toBe(refusedThen);
    expect(refusedThen).toBeLessThanOrEqual(1 + 600);
  });
});
