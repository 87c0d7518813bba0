import type { FastifyBaseLogger, FastifyRequest } from "fastify";

/**
 * The handlers still running, so that a shutdown waits for them before the app closes what
 * they use (the relays, the cache, then the database). Node's server stops waiting for a
 * request once its client has gone, but the handler goes on: a search queued for its turn, a
 * statement waiting on a lock. Closing the database under it made it fail with "Cannot use a
 * pool after calling end", logged as a server error.
 *
 * A request counts from `onRequest` until `onSend`, which Fastify runs once the handler has
 * answered — also when the client went away, when the handler threw, and when a body was cut
 * off. The request-context plugin calls `started` and `answered` from the hooks it has anyway,
 * so the count costs no hook of its own on the hot path. WebSocket upgrades are left out: a
 * socket's life is not a handler's, and the live routes close their sockets themselves.
 */
export function createHandlersInFlight() {
  const running = new Set<FastifyRequest>();
  let onSettled: (() => void) | undefined;
  return {
    started(request: FastifyRequest): void {
      if (request.headers.upgrade === undefined) running.add(request);
    },
    answered(request: FastifyRequest): void {
      if (running.delete(request) && running.size === 0) onSettled?.();
    },
    /**
     * Resolves once no handler runs, or after `maxWaitMs` (the process's shutdown deadline is
     * the last word). Called from preClose, when Fastify already answers new requests with 503,
     * so the set only shrinks.
     */
    async settled(maxWaitMs: number, log: FastifyBaseLogger): Promise<void> {
      if (running.size === 0) return;
      const waited = Date.now();
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        onSettled = resolve;
        timer = setTimeout(resolve, maxWaitMs);
      });
      clearTimeout(timer);
      log.info(
        { event: "shutdown.handlers_settled", left: running.size, waited_ms: Date.now() - waited },
        "waited for running handlers",
      );
    },
  };
}

export type HandlersInFlight = ReturnType<typeof createHandlersInFlight>;
