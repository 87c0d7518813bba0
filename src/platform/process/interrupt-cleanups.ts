/**
 * What a one-shot command must undo if Ctrl-C stops it midway: the embedded database server
 * it started, the spool files of a backup. The command exits straight after these run, so
 * the `finally` blocks that normally do this work never get their turn.
 */
const cleanups = new Set<() => Promise<unknown> | unknown>();

/** Registers `cleanup` to run on an interrupt; call the returned function once it is no longer needed. */
export function onInterrupt(cleanup: () => Promise<unknown> | unknown): () => void {
  cleanups.add(cleanup);
  return () => {
    cleanups.delete(cleanup);
  };
}

/** Runs every registered cleanup (the interrupt handler of `src/cli/main.ts` calls this). */
export async function runInterruptCleanups(): Promise<void> {
  await Promise.allSettled([...cleanups].map(async (cleanup) => cleanup()));
}
