import { DomainError, retryAfter } from "../../shared/errors.js";

/** Every search slot and queue place is taken: the client should come back shortly. */
export class SearchBusyError extends DomainError {
  constructor() {
    super(503, "search_busy", "Search is at capacity; try again in a moment", { headers: retryAfter(1) });
  }
}

/** This client already runs as many searches as it may. */
export class TooManySearchesError extends DomainError {
  constructor(limit: number) {
    super(
      429,
      "too_many_searches",
      `At most ${limit} searches at a time per client; wait for one to finish`,
      {
        headers: retryAfter(1),
      },
    );
  }
}

export interface SearchAdmissionOptions {
  /** Searches running at once. */
  concurrency: number;
  /** Searches waiting for a slot; beyond it, 503 at once. */
  queueLength: number;
  /** Searches one client may have running or waiting. */
  perClient: number;
}

export interface SearchAdmission {
  /**
   * Runs `work` once a slot is free, or throws at once: TooManySearchesError when `client`
   * already has its share, SearchBusyError when slots and queue are full or no slot came
   * free within `maxWaitMs`. `work` gets how long it waited for its slot, so the caller can
   * fit the rest into its own deadline.
   */
  run<T>(client: string, maxWaitMs: number, work: (waitedMs: number) => Promise<T>): Promise<T>;
  /** Searches running and waiting now (for tests and logs). */
  load(): { running: number; queued: number };
}

interface Waiter {
  admit: () => void;
  timer: NodeJS.Timeout;
}

/**
 * A counting semaphore with a bounded queue and per-client counts. Libraries such as p-limit
 * queue without bound and know nothing of clients; rejecting at once when full is the point
 * here, and it takes a few lines.
 *
 * Counts live in this process: the limit protects this process's connections, and one
 * client's share is per instance.
 */
export function createSearchAdmission(options: SearchAdmissionOptions): SearchAdmission {
  let running = 0;
  const queue: Waiter[] = [];
  const perClient = new Map<string, number>();

  const release = () => {
    const next = queue.shift();
    if (next) {
      clearTimeout(next.timer);
      next.admit(); // the slot passes straight to the next waiter
    } else {
      running -= 1;
    }
  };

  const acquire = (maxWaitMs: number): Promise<void> => {
    if (running < options.concurrency) {
      running += 1;
      return Promise.resolve();
    }
    if (queue.length >= options.queueLength) return Promise.reject(new SearchBusyError());
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        admit: resolve,
        timer: setTimeout(() => {
          queue.splice(queue.indexOf(waiter), 1);
          reject(new SearchBusyError());
        }, maxWaitMs),
      };
      queue.push(waiter);
    });
  };

  return {
    async run(client, maxWaitMs, work) {
      const held = perClient.get(client) ?? 0;
      if (held >= options.perClient) throw new TooManySearchesError(options.perClient);
      perClient.set(client, held + 1);
      try {
        const started = performance.now();
        await acquire(maxWaitMs);
        try {
          return await work(performance.now() - started);
        } finally {
          release();
        }
      } finally {
        const left = (perClient.get(client) ?? 1) - 1;
        if (left === 0) perClient.delete(client);
        else perClient.set(client, left);
      }
    },
    load: () => ({ running, queued: queue.length }),
  };
}
