import { describe, expect, it } from "vitest";
import { createCounterStore } from "../../src/platform/cache/counter-store.js";

describe("counter store", () => {
  it("counts with a window, and expires", async () => {
    let now = 0;
    const store = createCounterStore({ now: () => now });
    expect(await store.increment("a", 1_000)).toBe(1);
    expect(await store.increment("a", 1_000)).toBe(2);
    expect(await store.ttl("a")).toBe(1_000);
    now = 1_000;
    expect(await store.get("a")).toBeUndefined();
    expect(await store.increment("a", 1_000)).toBe(1);
  });

  it("when full, evicts the oldest counters but never a block before its expiry", async () => {
    let now = 0;
    const store = createCounterStore({ maxEntries: 100, now: () => now });
    await store.set("block", "1", 60_000);
    await store.increment("old-counter", 60_000);
    // A flood of fresh counters (many addresses, say) fills the store over and over.
    for (let i = 0; i < 1_000; i++) await store.increment(`flood:${i}`, 60_000);
    expect(await store.ttl("block")).toBe(60_000);
    expect(await store.get("old-counter")).toBeUndefined();
    expect(await store.get("flood:999")).toBe("1");
    now = 60_000;
    expect(await store.ttl("block")).toBe(0);
  });

  it("reading an entry does not change what goes first", async () => {
    const store = createCounterStore({ maxEntries: 3 });
    await store.increment("a", 60_000);
    await store.increment("b", 60_000);
    await store.get("a");
    await store.increment("c", 60_000);
    await store.increment("d", 60_000);
    expect(await store.get("a")).toBeUndefined();
    expect(await store.get("b")).toBe("1");
  });

  it("sweeps expired entries before evicting live counters", async () => {
    let now = 0;
    const store = createCounterStore({ maxEntries: 3, now: () => now });
    await store.increment("live", 10_000);
    await store.set("short-a", "1", 10);
    await store.set("short-b", "1", 10);
    now = 2_000;
    await store.increment("new", 10_000);
    expect(await store.get("live")).toBe("1");
    expect(await store.get("new")).toBe("1");
  });
});
