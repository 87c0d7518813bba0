import { sqlStateOf } from "./db-errors.js";

/**
 * Retries a whole transaction when PostgreSQL aborted it for a concurrency reason the
 * application is told to retry: serialization failure (40001) or deadlock (40P01). Bounded,
 * with jittered exponential back-off, so contention slows requests down instead of failing them.
 */
const RETRYABLE = new Set(["40001", "40P01"]);

export async function withTransactionRetry<T>(
  run: () => Promise<T>,
  options: { attempts?: number; onRetry?: (code: string, attempt: number) => void } = {},
): Promise<T> {
  const attempts = options.attempts ?? 5;
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (error) {
      const code = sqlStateOf(error);
      if (!code || !RETRYABLE.has(code) || attempt >= attempts) throw error;
      options.onRetry?.(code, attempt);
      const backoffMs = 5 * 2 ** attempt * (0.5 + Math.random());
      await new Promise((resolve) => setTimeout(resolve, backoffMs));
    }
  }
}
