#!/usr/bin/env node
// The fan-out baseline: the least a WebSocket fan-out over Redis can do — a `ws` server whose
// Redis subscriber forwards every message on one channel to every connected client. No
// authentication, no database, no outbox. Env: PORT, REDIS_URL, CHANNEL.
import { createServer } from "node:http";
import { Redis } from "ioredis";
import { WebSocketServer } from "ws";

const port = Number(process.env.PORT ?? 0);
const channel = process.env.CHANNEL ?? "baseline-fanout";
const subscriber = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
const server = createServer((_req, res) => {
  res.writeHead(200, { "content-type": "application/json" });
  res.end('{"status":"pass"}');
});
const wss = new WebSocketServer({ server, path: "/ws" });
wss.on("connection", (socket) => {
  // Same handshake shape as Kaira's feed, so the client harness is shared: auth → ready.
  socket.once("message", () => socket.send(JSON.stringify({ type: "ready", data: {} })));
});
await subscriber.subscribe(channel);
subscriber.on("message", (_channel, message) => {
  for (const client of wss.clients) if (client.readyState === 1) client.send(message);
});
server.listen(port, "127.0.0.1", () => console.log(`baseline fan-out on ${server.address().port}`));
process.on("SIGTERM", () => process.exit(0));
