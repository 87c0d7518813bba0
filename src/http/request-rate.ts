import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";

declare module "fastify" {
  interface FastifyInstance {
    /** Requests this instance answered in the last 60 seconds. */
    requestsLastMinute(): number;
  }
}

/**
 * Counts answered requests in 60 one-second buckets, so the admin overview can show the
 * request rate without a Prometheus server (which GET /metrics needs to turn its counters
 * into a rate). One array write per request.
 */
export const requestRatePlugin = fp(async (app: FastifyInstance) => {
  const buckets = new Array<number>(60).fill(0);
  const secondOf = new Array<number>(60).fill(0);
  app.addHook("onResponse", (_request, _reply, done) => {
    const second = Math.floor(Date.now() / 1000);
    const slot = second % 60;
    if (secondOf[slot] !== second) {
      secondOf[slot] = second;
      buckets[slot] = 0;
    }
    buckets[slot] = (buckets[slot] ?? 0) + 1;
    done();
  });
  app.decorate("requestsLastMinute", () => {
    const now = Math.floor(Date.now() / 1000);
    let total = 0;
    for (let slot = 0; slot < 60; slot++) {
      if (now - (secondOf[slot] ?? 0) < 60) total += buckets[slot] ?? 0;
    }
    return total;
  });
});
