import type { FastifyInstance } from "fastify";

/**
 * Every answer of the routes registered in `app` (a plugin's scope) carries
 * `Cache-Control: no-store`, whoever asks and whatever the status: tokens, secrets and
 * recovery codes must never be kept by a browser or a proxy.
 */
export function answerNoStore(app: FastifyInstance): void {
  app.addHook("onSend", async (_request, reply, payload) => {
    reply.header("cache-control", "no-store");
    return payload;
  });
}
