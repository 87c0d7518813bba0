import { AsyncLocalStorage } from "node:async_hooks";

/**
 * The request a piece of code runs for, carried through callbacks, timers and promises.
 * Logs that are written far from the request (a process-level failure) can still name it.
 */
const scope = new AsyncLocalStorage<{ requestId: string }>();

export function runInRequestScope<T>(requestId: string, run: () => T): T {
  return scope.run({ requestId }, run);
}

export const currentRequestId = (): string | undefined => scope.getStore()?.requestId;
