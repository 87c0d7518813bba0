import type { FastifyInstance, FastifyRequest } from "fastify";
import fp from "fastify-plugin";

/**
 * At shutdown, waits for the handlers still running before the app closes what they use (the
 * relays, the cache, then the database). Node's server stops waiting for a request once its
 * client has gone, but the handler goes on: a search queued for its turn, a statement waiting
 * on a lock. Closing the database under it made it fail with "Cannot use a pool after calling
 * end", logged as a server error.
 *
 * A request counts from `onRequest` until `onSend`, which Fastify runs once the handler has
 * answered — also when the client went away, when the handler threw, and when a body was cut
 * off. WebSocket upgrades are left out: a socket's life is not a handler's, and the live
 * routes close their sockets themselves. The wait is bounded: the process's shutdown deadline
 * is the last word.
 */
export const handlersInFlightPlugin = fp(async (app: FastifyInstance, options: { maxWaitMs: number }) => {
  const running = new Set<FastifyRequest>();
  let settled: (() => void) | undefined;

  app.addHook("onRequest", (request, _reply, done) => {
    if (request.headers.upgrade === undefined) running.add(request);
    done();
  });
  app.addHook("onSend", (request, _reply, payload, done) => {
    if (running.delete(request) && running.size === 0) settled?.();
    done(null, payload);
  });

  // preClose runs once Fastify answers new requests with 503, so the set only shrinks.
  app.addHook("preClose", async () => {
    if (running.size === 0) return;
    const waited = Date.now();
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      settled = resolve;
      timer = setTimeout(resolve, options.maxWaitMs);
    });
    clearTimeout(timer);
    app.log.info(
      { event: "shutdown.handlers_settled", left: running.size, waited_ms: Date.now() - waited },
      "waited for running handlers",
    );
  });
});
