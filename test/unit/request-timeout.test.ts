import type { AddressInfo } from "node:net";
import { connect } from "node:net";
import Fastify, { type FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requestTimeoutPlugin } from "../../src/http/plugins/request-timeout.js";

// A body trickled slower than the deadline loses its connection, however its length is
// announced (header names in any case, values padded, HTTP/1.0); a request without a body
// announces none and is answered at once.
const TIMEOUT_MS = 300;

describe("request timeout over raw sockets", { timeout: 20_000 }, () => {
  let app: FastifyInstance;
  let port: number;

  beforeAll(async () => {
    app = Fastify();
    await app.register(requestTimeoutPlugin, { timeoutMs: TIMEOUT_MS });
    app.post("/echo", async (request) => ({ got: request.body }));
    app.get("/ping", async () => ({ ok: true }));
    await app.listen({ port: 0, host: "127.0.0.1" });
    port = (app.server.address() as AddressInfo).port;
  });
  afterAll(() => app.close());

  /** Sends `head`, then one byte of body every 100 ms; resolves with how long until the server closed. */
  function trickle(head: string, byte = "a"): Promise<{ closedAfterMs: number; answer: string }> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, "127.0.0.1");
      const startedAt = Date.now();
      let answer = "";
      const drip = setInterval(() => socket.writable && socket.write(byte), 100);
      const giveUp = setTimeout(() => {
        clearInterval(drip);
        socket.destroy();
        reject(new Error(`connection still open after 3 s: ${JSON.stringify(head)}`));
      }, 3_000);
      socket.on("data", (chunk) => {
        answer += chunk.toString();
      });
      socket.on("error", () => {});
      socket.on("close", () => {
        clearInterval(drip);
        clearTimeout(giveUp);
        resolve({ closedAfterMs: Date.now() - startedAt, answer });
      });
      socket.write(head);
    });
  }

  it.each([
    [
      "chunked, odd casing",
      "POST /echo HTTP/1.1\r\nHost: x\r\nTRANSFER-ENCODING: Chunked\r\nContent-Type: text/plain\r\n\r\n1000\r\n",
    ],
    [
      "padded content length",
      "POST /echo HTTP/1.1\r\nHost: x\r\ncontent-length:    1000   \r\nContent-Type: text/plain\r\n\r\n",
    ],
    [
      "HTTP/1.0",
      "POST /echo HTTP/1.0\r\nHost: x\r\nContent-Length: 1000\r\nContent-Type: text/plain\r\n\r\n",
    ],
    [
      "leading zeros",
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0001000\r\nContent-Type: text/plain\r\n\r\n",
    ],
  ])("closes a trickled body (%s)", async (_name, head) => {
    const { closedAfterMs, answer } = await trickle(head);
    // Refused outright (400) or cut at the deadline: never held open.
    if (!answer.startsWith("HTTP/1.1 400")) expect(closedAfterMs).toBeLessThan(TIMEOUT_MS + 1_000);
  });

  it("answers a request without a body at once, and a body on a GET without a length is no body", async () => {
    const answer = await new Promise<string>((resolve) => {
      const socket = connect(port, "127.0.0.1");
      let text = "";
      socket.on("data", (chunk) => {
        text += chunk.toString();
        if (text.includes('{"ok":true}')) {
          socket.destroy();
          resolve(text);
        }
      });
      socket.write("GET /ping HTTP/1.1\r\nHost: x\r\n\r\n");
    });
    expect(answer).toMatch(/^HTTP\/1.1 200/);
  });
});
