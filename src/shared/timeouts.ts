/** `promise`, or a rejection with `timeoutError()` once `ms` pass first. The timer never outlives it. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, timeoutError: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(timeoutError()), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits until every promise settles or `ms` pass; true when they all settled in time. */
export async function settledWithin(promises: Promise<unknown>[], ms: number): Promise<boolean> {
  return withTimeout(
    Promise.allSettled(promises).then(() => true),
    ms,
    () => new Error("not settled"),
  ).catch(() => false);
}

/**
 * After a first attempt failed: runs `attempt` again every `everyMs` until it succeeds or the
 * next try would fall at or past `deadline` (epoch ms). Each failure goes to `onError`. Runs in
 * the background; its timers never keep the process alive.
 */
export function retryInBackground(
  attempt: () => Promise<void>,
  options: { everyMs: number; deadline: number; onError: (error: unknown) => void },
): void {
  if (Date.now() + options.everyMs >= options.deadline) return;
  setTimeout(() => {
    attempt().catch((error: unknown) => {
      options.onError(error);
      retryInBackground(attempt, options);
    });
  }, options.everyMs).unref();
}
