import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { retryInBackground } from "../../src/shared/timeouts.js";

describe("retryInBackground", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("tries again every interval until an attempt succeeds, reporting each failure", async () => {
    let calls = 0;
    const failures: unknown[] = [];
    const attempt = async () => {
      calls++;
      if (calls < 3) throw new Error(`refused ${calls}`);
    };
    retryInBackground(attempt, {
      everyMs: 1_000,
      deadline: Date.now() + 60_000,
      onError: (e) => failures.push(e),
    });
    expect(calls).toBe(0); // the first try was the caller's
    await vi.advanceTimersByTimeAsync(1_000);
    await vi.advanceTimersByTimeAsync(1_000);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(calls).toBe(3);
    expect(failures).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(calls).toBe(3); // nothing after the success
  });

  it("stops before the deadline when every attempt fails", async () => {
    let calls = 0;
    const attempt = async () => {
      calls++;
      throw new Error("refused");
    };
    retryInBackground(attempt, { everyMs: 1_000, deadline: Date.now() + 5_500, onError: () => {} });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(calls).toBe(5); // at 1, 2, 3, 4 and 5 s; a sixth would fall past 5.5 s
  });
});
