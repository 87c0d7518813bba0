import { describe, expect, it } from "vitest";
import type { SearchRepository } from "../../src/modules/search/search.repository.js";
import { createSearchService, SearchTimeoutError } from "../../src/modules/search/search.service.js";
import { createSearchAdmission } from "../../src/modules/search/search-admission.js";

const BUDGET_MS = 2_000;
const noHits = {
  searchPosts: async () => [],
  suggestTitles: async () => [],
  fuzzyTitleCandidates: async () => [],
} as unknown as SearchRepository;

function serviceWith(runSearch: (timeoutMs: number) => Promise<void>, concurrency = 1) {
  const statementTimeouts: number[] = [];
  const service = createSearchService({
    runSearch: async (timeoutMs, work) => {
      statementTimeouts.push(timeoutMs);
      await runSearch(timeoutMs);
      return work(noHits);
    },
    admission: createSearchAdmission({ concurrency, queueLength: 4, perClient: 4 }),
    timeoutMs: BUDGET_MS,
  });
  return { service, statementTimeouts };
}

describe("search time budget", () => {
  it("stops the statement a tenth of the budget early, leaving time for the answer", async () => {
    const { service, statementTimeouts } = serviceWith(async () => {});
    // Words of four letters or fewer have no typo to correct: one statement, no fallback.
    await service.searchPosts({ q: "sit amet", limit: 20 }, "client-a");
    // Less the time spent admitting it (a fraction of a millisecond without a queue).
    expect(statementTimeouts).toHaveLength(1);
    expect(statementTimeouts[0]).toBeLessThanOrEqual(BUDGET_MS * 0.9);
    expect(statementTimeouts[0]).toBeGreaterThan(BUDGET_MS * 0.9 - 50);
  });

  it("takes the wait for a slot out of the statement's share", async () => {
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const { service, statementTimeouts } = serviceWith(async () => {
      if (statementTimeouts.length === 1) await held; // the first search holds the only slot
    });
    const first = service.searchPosts({ q: "lorem", limit: 20 }, "client-a");
    const second = service.searchPosts({ q: "ipsum", limit: 20 }, "client-b");
    await new Promise((resolve) => setTimeout(resolve, 200));
    release();
    await Promise.all([first, second]);
    const [, waited] = statementTimeouts;
    expect(waited).toBeLessThanOrEqual(BUDGET_MS * 0.9 - 150);
    expect(waited).toBeGreaterThan(BUDGET_MS * 0.4);
  });

  it("gives the typo fallback of an empty search only what is left of the request's budget", async () => {
    const { service, statementTimeouts } = serviceWith(async () => {
      if (statementTimeouts.length === 1) await new Promise((resolve) => setTimeout(resolve, 300));
    });
    await service.searchPosts({ q: "lorem", limit: 20 }, "client-a");
    expect(statementTimeouts).toHaveLength(2); // the search, then the candidate titles
    const [, fallback] = statementTimeouts as [number, number];
    // The 300 ms the search took are not given again. (Less 10 ms of slack: a Node timer may
    // fire a fraction of a millisecond before its delay, measured with another clock.)
    expect(fallback).toBeLessThanOrEqual(BUDGET_MS * 0.9 - 290);
    expect(fallback).toBeGreaterThan(BUDGET_MS * 0.4);
  });

  it("skips the typo fallback when most of the budget is spent", async () => {
    const { service, statementTimeouts } = serviceWith(async () => {
      if (statementTimeouts.length === 1)
        await new Promise((resolve) => setTimeout(resolve, BUDGET_MS * 0.85));
    });
    const page = await service.searchPosts({ q: "lorem", limit: 20 }, "client-a");
    expect(page.items).toEqual([]);
    expect(statementTimeouts).toHaveLength(1);
  });

  it("answers search_timeout when the database stops the statement", async () => {
    const { service } = serviceWith(async () => {
      throw Object.assign(new Error("canceling statement due to statement timeout"), { code: "57014" });
    });
    await expect(service.searchPosts({ q: "lorem", limit: 20 }, "client-a")).rejects.toBeInstanceOf(
      SearchTimeoutError,
    );
  });
});
