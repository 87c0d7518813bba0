import WebSocket from "ws";
import { waitFor } from "./process.js";

export interface LiveSocket {
  socket: WebSocket;
  messages: { type: string }[];
  closed: Promise<{ code: number }>;
}

/** A live-feed socket authenticated with `token`, resolved once the server said `ready`. */
export async function openReadySocket(url: string, token: string): Promise<LiveSocket> {
  const socket = new WebSocket(url);
  const messages: { type: string }[] = [];
  const closed = new Promise<{ code: number }>((done) => socket.on("close", (code) => done({ code })));
  socket.on("message", (data) => messages.push(JSON.parse(data.toString())));
  await new Promise<void>((resolve, reject) => {
    socket.on("error", reject);
    socket.on("open", () => resolve());
  });
  socket.send(JSON.stringify({ type: "auth", access_token: token }));
  await Promise.race([
    waitFor(async () => messages.some((m) => m.type === "ready"), 5_000, "ready"),
    closed.then(({ code }) => {
      throw new Error(`closed ${code} before ready`);
    }),
  ]);
  return { socket, messages, closed };
}

/** The close code, within a deadline: a close that never comes fails instead of hanging. */
export async function closeCodeOf(live: LiveSocket, withinMs = 5_000): Promise<number> {
  const timeout = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error(`socket still open after ${withinMs} ms`)), withinMs).unref(),
  );
  return (await Promise.race([live.closed, timeout])).code;
}
