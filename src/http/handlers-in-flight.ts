import type { FastifyBaseLogger, FastifyInstance, RouteOptions } from "fastify";

/**
 * Fastify's own bound on a plugin or hook, preClose hooks included: past it `close()` rejects
 * (AVV_ERR_READY_TIMEOUT). Set explicitly on the instance so the shutdown wait below can stay
 * under it.
 */
export const PLUGIN_TIMEOUT_MS = 10_000;

/**
 * How long a shutdown waits for running handlers: half its deadline, so the rest of the
 * shutdown keeps the other half, and under Fastify's bound on a hook, past which `close()`
 * would fail instead of going on.
 */
export function handlersWaitMs(shutdownTimeoutSeconds: number): number {
  return Math.min((shutdownTimeoutSeconds * 1000) / 2, PLUGIN_TIMEOUT_MS - 1_000);
}

/**
 * Counts the route handlers still running, so that a shutdown waits for them before the app
 * closes what they use (the relays, the cache, then the database). Node's server stops waiting
 * for a request once its client has gone, but its handler goes on: a search queued for its
 * turn, a statement waiting on a lock. Closing the database under it made it fail with "Cannot
 * use a pool after calling end", logged as a server error.
 *
 * Each route's handler is wrapped when the route is added (no hook on the hot path): a request
 * counts from the moment its handler starts until the handler's promise settles. A request that
 * never reaches its handler (a body that never arrives, a malformed one Node refuses itself)
 * is never counted, whatever its headers. WebSocket routes are left out: a socket's life is not
 * a handler's, and the live routes close their sockets themselves.
 */
export function trackHandlersInFlight(app: FastifyInstance) {
  let running = 0;
  let onSettled: (() => void) | undefined;
  const finished = () => {
    running--;
    if (running === 0) onSettled?.();
  };

  app.addHook("onRoute", (route: RouteOptions & { websocket?: boolean }) => {
    if (route.websocket) return;
    const handler = route.handler;
    route.handler = function countedHandler(this: FastifyInstance, request, reply) {
      running++;
      let result: unknown;
      try {
        result = handler.call(this, request, reply);
      } catch (error) {
        finished();
        throw error;
      }
      if (result instanceof Promise) return result.finally(finished);
      finished();
      return result;
    };
  });

  return {
    /**
     * Resolves once no handler runs, or after `maxWaitMs`. Called from preClose, when Fastify
     * already answers new requests with 503, so the count only goes down.
     */
    async settled(maxWaitMs: number, log: FastifyBaseLogger): Promise<void> {
      if (running === 0) return;
      const waited = Date.now();
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        onSettled = resolve;
        timer = setTimeout(resolve, maxWaitMs);
      });
      clearTimeout(timer);
      log.info(
        { event: "shutdown.handlers_settled", left: running, waited_ms: Date.now() - waited },
        running === 0 ? "waited for running handlers" : "handlers still running; closing anyway",
      );
    },
  };
}
