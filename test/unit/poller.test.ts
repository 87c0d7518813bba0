import { AsyncLocalStorage } from "node:async_hooks";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type Poller, startPoller } from "../../src/shared/poller.js";

/** A step that counts its runs and, while `hold` is set, waits until released. */
function steps() {
  let active = 0;
  const state = {
    runs: 0,
    maxActive: 0,
    signals: [] as AbortSignal[],
    hold: false,
    releases: [] as (() => void)[],
    step: async (signal: AbortSignal) => {
      state.runs++;
      state.signals.push(signal);
      active++;
      state.maxActive = Math.max(state.maxActive, active);
      try {
        if (state.hold) await new Promise<void>((resolve) => state.releases.push(resolve));
      } finally {
        active--;
      }
    },
    release() {
      for (const resolve of state.releases.splice(0)) resolve();
    },
  };
  return state;
}

let poller: Poller | undefined;
beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(async () => {
  await poller?.stop();
  poller = undefined;
  vi.useRealTimers();
});

describe("startPoller", () => {
  it("runs a step every interval, the first after one interval unless immediate", async () => {
    const s = steps();
    poller = startPoller({ step: s.step, intervalMs: 100, onError: () => {} });
    expect(s.runs).toBe(0);
    await vi.advanceTimersByTimeAsync(350);
    expect(s.runs).toBe(3);

    const t = steps();
    const immediate = startPoller({ step: t.step, intervalMs: 100, immediate: true, onError: () => {} });
    expect(t.runs).toBe(1);
    await immediate.stop();
  });

  it("runs at once on wake, and coalesces wakes during a step into one more step", async () => {
    const s = steps();
    poller = startPoller({ step: s.step, intervalMs: 10_000, onError: () => {} });
    poller.wake();
    expect(s.runs).toBe(1);
    await vi.advanceTimersByTimeAsync(0);

    s.hold = true;
    poller.wake();
    expect(s.runs).toBe(2);
    for (let i = 0; i < 5; i++) poller.wake();
    await vi.advanceTimersByTimeAsync(0);
    expect(s.runs).toBe(2); // no overlap: the woken step waits for the running one
    s.hold = false;
    s.release();
    await vi.advanceTimersByTimeAsync(0);
    expect(s.runs).toBe(3); // five wakes, one more step, without waiting for the interval
    await vi.advanceTimersByTimeAsync(5_000);
    expect(s.runs).toBe(3);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(s.runs).toBe(4); // then back to the interval
  });

  it("with minGapMs, a stream of wakes runs one step per gap, and a lone wake runs at once", async () => {
    const s = steps();
    poller = startPoller({ step: s.step, intervalMs: 10_000, minGapMs: 5, onError: () => {} });
    poller.wake();
    expect(s.runs).toBe(1); // idle: at once
    await vi.advanceTimersByTimeAsync(1);
    for (let i = 0; i < 10; i++) poller.wake();
    await vi.advanceTimersByTimeAsync(2);
    expect(s.runs).toBe(1); // within the gap: the wakes wait together
    await vi.advanceTimersByTimeAsync(2);
    expect(s.runs).toBe(2); // one step for all ten, 5 ms after the previous one started
    await vi.advanceTimersByTimeAsync(100);
    poller.wake();
    expect(s.runs).toBe(3); // long after the last step: at once again
  });

  it("never runs two steps at once, whatever the mix of wakes and timers", async () => {
    const s = steps();
    s.hold = true;
    poller = startPoller({ step: s.step, intervalMs: 10, immediate: true, onError: () => {} });
    for (let round = 0; round < 20; round++) {
      poller.wake();
      await vi.advanceTimersByTimeAsync(7);
      if (round % 3 === 0) s.release();
    }
    s.hold = false;
    s.release();
    await vi.advanceTimersByTimeAsync(50);
    expect(s.runs).toBeGreaterThan(5);
    expect(s.maxActive).toBe(1);
  });

  it("stop waits for the running step, aborts its signal, and no step runs afterwards", async () => {
    const s = steps();
    s.hold = true;
    poller = startPoller({ step: s.step, intervalMs: 10, immediate: true, onError: () => {} });
    expect(s.runs).toBe(1);
    poller.wake(); // would run again after the step, but stop comes first
    let stopped = false;
    const stopping = poller.stop().then(() => {
      stopped = true;
    });
    await vi.advanceTimersByTimeAsync(100);
    expect(stopped).toBe(false);
    expect(s.signals[0]?.aborted).toBe(true);
    s.release();
    await stopping;
    expect(stopped).toBe(true);
    poller.wake();
    await vi.advanceTimersByTimeAsync(100);
    expect(s.runs).toBe(1);
  });

  it("reports a failed step and keeps polling", async () => {
    const errors: unknown[] = [];
    let runs = 0;
    poller = startPoller({
      step: async () => {
        runs++;
        if (runs === 1) throw new Error("database away");
      },
      intervalMs: 100,
      onError: (error) => errors.push(error),
    });
    await vi.advanceTimersByTimeAsync(100);
    expect(errors).toEqual([new Error("database away")]);
    await vi.advanceTimersByTimeAsync(100);
    expect(runs).toBe(2);
    poller.wake();
    await vi.advanceTimersByTimeAsync(0);
    expect(runs).toBe(3);
    expect(errors).toHaveLength(1);
  });

  it("runs every step in the context it was started in, never in the waker's", async () => {
    // A request that wakes the outbox relay must not find every later poll inside its
    // context: with tracing on, that context is the request's trace.
    const request = new AsyncLocalStorage<string>();
    const seen: (string | undefined)[] = [];
    poller = startPoller({
      intervalMs: 10,
      onError: () => {},
      async step() {
        seen.push(request.getStore());
      },
    });
    request.run("POST /api/v1/posts", () => poller?.wake());
    await vi.advanceTimersByTimeAsync(100);
    expect(seen.length).toBeGreaterThan(5);
    expect(seen.filter((store) => store !== undefined)).toEqual([]);
  });
});
