import type {
  FastifyBaseLogger,
  FastifyInstance,
  FastifyRequest,
  preValidationHookHandler,
  RouteOptions,
} from "fastify";

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
 * Counts the requests being handled, so that a shutdown waits for them before the app closes
 * what they use (the relays, the cache, then the database). Node's server stops waiting for a
 * request once its client has gone, but the work goes on: a token checked against the
 * database, a search queued for its turn, a statement waiting on a lock. Closing the database
 * under it made it fail with "Cannot use a pool after calling end", logged as a server error.
 *
 * A request counts from its route's first preValidation hook, added here when the route is
 * (its body is parsed by then, and the authentication step and the handler are still ahead),
 * until the request-context plugin's onSend hook calls `answered`: Fastify runs onSend once the
 * request is answered, also when the client went away or the handler threw. A request whose
 * body never arrives, or that Node refuses itself, never counts, whatever its headers. The
 * exception is a multipart upload: its body is a stream the handler reads, so it counts from
 * its headers, and a stalled one ends at REQUEST_TIMEOUT_SECONDS like any trickled body.
 * WebSocket routes are left out: a socket's life is not a request's, and the live routes close
 * their sockets themselves.
 */
export function trackHandlersInFlight(app: FastifyInstance) {
  const running = new Set<FastifyRequest>();
  let onSettled: (() => void) | undefined;
  const count: preValidationHookHandler = (request, _reply, done) => {
    running.add(request);
    done();
  };

  app.addHook("onRoute", (route: RouteOptions & { websocket?: boolean }) => {
    if (route.websocket) return;
    route.preValidation = [count, ...(route.preValidation ? [route.preValidation].flat() : [])];
  });

  return {
    answered(request: FastifyRequest): void {
      if (running.delete(request) && running.size === 0) onSettled?.();
    },
    /**
     * Resolves once no request is being handled, or after `maxWaitMs`. Called from preClose,
     * when Fastify already answers new requests with 503, so the count only goes down.
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
        running.size === 0 ? "waited for running handlers" : "handlers still running; closing anyway",
      );
    },
  };
}

export type HandlersInFlight = ReturnType<typeof trackHandlersInFlight>;
