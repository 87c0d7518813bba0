import { describe, expect, it } from "vitest";
import {
  createSearchAdmission,
  SearchBusyError,
  TooManySearchesError,
} from "../../src/modules/search/search-admission.js";

/** A search that runs until the test lets it finish. */
function held() {
  let finish: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  return { work: () => done, finish };
}

describe("search admission", () => {
  it("runs up to the limit, queues as many more, and refuses the rest at once with 503", async () => {
    const admission = createSearchAdmission({ concurrency: 2, queueLength: 2, perClient: 10 });
    const searches = Array.from({ length: 4 }, () => held());
    const started: number[] = [];
    const results = searches.map((search, i) =>
      admission.run(`c${i}`, 10_000, async () => {
        started.push(i);
        await search.work();
        return i;
      }),
    );
    await Promise.resolve();
    expect(admission.load()).toEqual({ running: 2, queued: 2 });
    expect(started).toEqual([0, 1]);
    await expect(admission.run("c9", 10_000, async () => 9)).rejects.toBeInstanceOf(SearchBusyError);

    searches[0]?.finish();
    await results[0];
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).toEqual([0, 1, 2]); // the freed slot went to the first in the queue
    for (const search of searches) search.finish();
    expect(await Promise.all(results)).toEqual([0, 1, 2, 3]);
    expect(admission.load()).toEqual({ running: 0, queued: 0 });
  });

  it("gives up on a queued search after its wait with 503 and frees its place", async () => {
    const admission = createSearchAdmission({ concurrency: 1, queueLength: 1, perClient: 10 });
    const running = held();
    const first = admission.run("a", 10_000, running.work);
    const startedAt = performance.now();
    await expect(admission.run("b", 50, async () => "never")).rejects.toBeInstanceOf(SearchBusyError);
    expect(performance.now() - startedAt).toBeGreaterThanOrEqual(45);
    expect(admission.load()).toEqual({ running: 1, queued: 0 });
    running.finish();
    await first;
    expect(await admission.run("b", 50, async (waitedMs) => waitedMs)).toBeLessThan(50);
  });

  it("limits each client to its share with 429, counting queued searches, and forgets it afterwards", async () => {
    const admission = createSearchAdmission({ concurrency: 1, queueLength: 5, perClient: 2 });
    const a = held();
    const b = held();
    const running = admission.run("ann", 10_000, a.work);
    const queued = admission.run("ann", 10_000, b.work);
    const refused = admission.run("ann", 10_000, async () => "third");
    await expect(refused).rejects.toBeInstanceOf(TooManySearchesError);
    await expect(refused).rejects.toMatchObject({
      status: 429,
      code: "too_many_searches",
      headers: { "retry-after": "1" },
    });
    // Another client is not affected by ann's share.
    const other = admission.run("bob", 10_000, async () => "bob's");
    a.finish();
    b.finish();
    await Promise.all([running, queued]);
    expect(await other).toBe("bob's");
    expect(await admission.run("ann", 10_000, async () => "again")).toBe("again");
  });

  it("releases the slot and the client's share when the search fails", async () => {
    const admission = createSearchAdmission({ concurrency: 1, queueLength: 0, perClient: 1 });
    await expect(
      admission.run("ann", 10, async () => {
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect(admission.load()).toEqual({ running: 0, queued: 0 });
    expect(await admission.run("ann", 10, async () => "ok")).toBe("ok");
  });
});
