import Fastify from "fastify";
import { describe, expect, it } from "vitest";
import {
  handlersWaitMs,
  PLUGIN_TIMEOUT_MS,
  trackHandlersInFlight,
} from "../../src/http/handlers-in-flight.js";

describe("the shutdown's wait for running handlers", () => {
  it("is half the shutdown deadline, and always under Fastify's bound on a hook", () => {
    expect(handlersWaitMs(4)).toBe(2_000);
    expect(handlersWaitMs(16)).toBe(8_000);
    // The default deadline (20 s) and longer ones: half would reach Fastify's bound, and
    // close() would reject with AVV_ERR_READY_TIMEOUT instead of going on.
    for (const seconds of [20, 30, 600]) expect(handlersWaitMs(seconds)).toBeLessThan(PLUGIN_TIMEOUT_MS);
  });

  it("counts requests until they are answered, also when handlers throw or answer synchronously, and none is left after", async () => {
    const app = Fastify({ logger: false });
    const handlers = trackHandlersInFlight(app);
    // What the request-context plugin does in the server.
    app.addHook("onSend", (request, _reply, payload, done) => {
      handlers.answered(request);
      done(null, payload);
    });
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    app.get("/slow", async () => {
      await gate;
      return { ok: true };
    });
    app.get("/throws", async () => {
      throw new Error("refused");
    });
    app.get("/sync", (_request, reply) => {
      reply.send({ ok: true });
    });
    app.get("/sync-throws", () => {
      throw new Error("refused");
    });
    await app.ready();
    for (const url of ["/throws", "/sync", "/sync-throws"]) await app.inject({ url });
    // Nothing runs: settled resolves at once.
    const idle = Date.now();
    await handlers.settled(5_000, app.log);
    expect(Date.now() - idle).toBeLessThan(100);
    const slow = app.inject({ url: "/slow" });
    await new Promise((resolve) => setTimeout(resolve, 50));
    let settled = false;
    const waiting = handlers.settled(5_000, app.log).then(() => {
      settled = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(settled).toBe(false);
    release();
    await waiting;
    expect((await slow).statusCode).toBe(200);
    await app.close();
  });
});
