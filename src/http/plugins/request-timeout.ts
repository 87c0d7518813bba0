import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";

/**
 * A client has `timeoutMs` to send its whole request. Node's own `requestTimeout` stops
 * applying once a request reaches its handler, so a body trickled a byte at a time (an upload
 * holding an open file, a JSON body the parser waits for) would keep its connection for ever.
 * Past the deadline an unfinished request's connection is closed: the handler's stream fails
 * as on any client abort, which removes what was partly written.
 */
export const requestTimeoutPlugin = fp(async (app: FastifyInstance, options: { timeoutMs: number }) => {
  app.addHook("onRequest", (request, reply, done) => {
    const raw = request.raw;
    // A request without a body is complete once its headers are read. Without Content-Length
    // or Transfer-Encoding there is none (RFC 9112 §6.3), and Node has not yet marked such a
    // request complete when this hook runs: skipping it spares most requests a timer and
    // three listeners.
    const contentLength = raw.headers["content-length"];
    const hasBody =
      raw.headers["transfer-encoding"] !== undefined ||
      (contentLength !== undefined && contentLength !== "0");
    if (raw.complete || !hasBody) return done();
    const timer = setTimeout(() => {
      if (raw.complete || raw.destroyed) return;
      request.log.info(
        { event: "request.timeout", timeout_ms: options.timeoutMs },
        "request not received in time; closing the connection",
      );
      raw.socket?.destroy();
    }, options.timeoutMs);
    timer.unref();
    const stop = () => clearTimeout(timer);
    raw.once("end", stop);
    raw.once("close", stop);
    reply.raw.once("finish", stop);
    done();
  });
});
