import { AsyncResource } from "node:async_hooks";

export interface PollerOptions {
  /**
   * One round of work. `stopping` is aborted once `stop()` is called, so a step that drains
   * a backlog in a loop can end early.
   */
  step: (stopping: AbortSignal) => Promise<void>;
  /** Pause between the end of one step and the start of the next when nothing wakes the poller. */
  intervalMs: number;
  /** Run the first step at once instead of after `intervalMs`. */
  immediate?: boolean;
  /**
   * Least time between the starts of two steps, even when woken (default 0). Under a stream of
   * wakes this turns one step per wake into one step per `minGapMs` that handles everything
   * woken in between: the outbox relay then claims events in batches instead of one by one.
   */
  minGapMs?: number;
  /** A step's error; the poller goes on with the next step. Must not throw. */
  onError: (error: unknown) => void;
}

export interface Poller {
  /**
   * Runs a step now instead of at the next poll. While a step runs, wakes are coalesced into
   * one more step right after it: work that arrived during the step is never left waiting
   * for the interval, and steps never overlap.
   */
  wake(): void;
  /** No step starts after this; resolves once the running step (if any) has finished. */
  stop(): Promise<void>;
}

/**
 * The poll-and-wake loop of the outbox relay and the job queues: a step every `intervalMs`,
 * at once on `wake()`, one at a time. Hand-written rather than a library's: it is a
 * timer and two flags, and each user needs exactly these semantics.
 */
export function startPoller(options: PollerOptions): Poller {
  const { step, intervalMs, onError } = options;
  const minGapMs = options.minGapMs ?? 0;
  let lastStartedAt = Number.NEGATIVE_INFINITY;
  // Every step runs in the async context the poller was started in, never in that of whoever
  // woke it: a request that wakes the relay must not find every later poll inside its trace
  // (or its logging context).
  const scope = new AsyncResource("kaira.poller");
  const stopping = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  // Set before the step is called, so a wake from the step's synchronous part is coalesced too.
  let busy = false;
  let wokenWhileRunning = false;
  // A gap-delayed step is already scheduled: further wakes join it.
  let woken = false;

  async function runStep(): Promise<void> {
    try {
      await step(stopping.signal);
    } catch (error) {
      onError(error);
    }
  }

  function run() {
    clearTimeout(timer);
    timer = undefined;
    wokenWhileRunning = false;
    woken = false;
    busy = true;
    lastStartedAt = performance.now();
    running = runStep().finally(() => {
      busy = false;
      running = undefined;
      if (stopping.signal.aborted) return;
      if (wokenWhileRunning) runSoon();
      else schedule(intervalMs);
    });
  }

  function schedule(delayMs: number) {
    clearTimeout(timer);
    timer = setTimeout(() => scope.runInAsyncScope(run), delayMs);
  }

  /** A step now, or once `minGapMs` has passed since the last one started. */
  function runSoon() {
    const wait = lastStartedAt + minGapMs - performance.now();
    if (wait <= 0) run();
    else if (!woken) {
      woken = true;
      schedule(wait);
    }
  }
  if (options.immediate) scope.runInAsyncScope(run);
  else schedule(intervalMs);

  return {
    wake() {
      if (stopping.signal.aborted) return;
      if (busy) wokenWhileRunning = true;
      else scope.runInAsyncScope(runSoon);
    },
    async stop() {
      stopping.abort();
      clearTimeout(timer);
      timer = undefined;
      await running;
    },
  };
}
