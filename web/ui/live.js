// The live feed: one WebSocket, authenticated by its first message (tokens never go in URLs),
// reconnecting with `since` so nothing published while it was down is lost.
import { currentAccessToken, renewAccessToken } from "./api.js";

const CLOSE_UNAUTHORIZED = 4401;

export function connectLive(onEvent, onStatus = () => {}) {
  let socket;
  let lastId;
  let stopped = false;
  let retryMs = 500;

  async function open(token) {
    if (stopped || !token) return;
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/v1/ws`;
    socket = new WebSocket(url);
    socket.addEventListener("open", () => {
      socket.send(
        JSON.stringify({
          type: "auth",
          access_token: token,
          ...(lastId !== undefined ? { since: lastId } : {}),
        }),
      );
    });
    socket.addEventListener("message", (message) => {
      const event = JSON.parse(message.data);
      if (event.type === "ready") {
        retryMs = 500;
        onStatus("live");
        return;
      }
      // A retried publish may repeat an id: skip what was already seen.
      if (typeof event.id === "number") {
        if (lastId !== undefined && event.id <= lastId) return;
        lastId = event.id;
      }
      onEvent(event);
    });
    socket.addEventListener("close", async (close) => {
      if (stopped) return;
      onStatus("reconnecting");
      // 4401: the token expired or the session ended; a refresh tells which (null: signed out).
      if (close.code === CLOSE_UNAUTHORIZED) return open(await renewAccessToken());
      setTimeout(() => open(currentAccessToken()), retryMs);
      retryMs = Math.min(retryMs * 2, 10_000);
    });
  }

  open(currentAccessToken());
  return () => {
    stopped = true;
    socket?.close(1000);
  };
}
