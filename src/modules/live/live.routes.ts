import type {} from "@fastify/websocket";
import type { FastifyInstance } from "fastify";
import { WebSocket } from "ws";
import { ProblemRef, problemCodes } from "../../http/openapi.js";
import { securityLogFor } from "../../http/security-log.js";
import type { OutboxRepository } from "../../platform/events/outbox.js";
import { ForbiddenError, UnauthorizedError } from "../../shared/errors.js";
import { CLOSE_POLICY_VIOLATION, CLOSE_UNAUTHORIZED, type LiveHub } from "./live-hub.js";
import type { SocketSlot, SocketSlots } from "./socket-slots.js";

/** The document's `default` answer of the upgrade route (see its swaggerTransform). */
const UpgradeRefusedRef = {
  description:
    "Refused before the upgrade: 400 invalid_host (a Host outside TRUSTED_HOSTS), 429 rate_limited",
  content: { "application/problem+json": { schema: ProblemRef } },
};

export { CLOSE_UNAUTHORIZED } from "./live-hub.js";
export const CLOSE_AUTH_TIMEOUT = 4408;
const CLOSE_INTERNAL_ERROR = 1011;
const AUTH_TIMEOUT_MS = 5_000;
const HEARTBEAT_MS = 30_000;
/** A socket slot outlives three missed renewals, so only a crashed instance's slots lapse. */
export const SOCKET_SLOT_LEASE_MS = 3 * HEARTBEAT_MS;
const CATCH_UP_LIMIT = 1_000;
const MAX_MESSAGE_BYTES = 64 * 1024;

interface AuthMessage {
  type: "auth";
  access_token: string;
  since?: number;
}

function parseAuth(raw: string): AuthMessage | undefined {
  try {
    const message = JSON.parse(raw) as Partial<AuthMessage>;
    if (message.type !== "auth" || typeof message.access_token !== "string") return undefined;
    if (message.since !== undefined && (!Number.isSafeInteger(message.since) || message.since < 0))
      return undefined;
    return message as AuthMessage;
  } catch {
    return undefined;
  }
}

/**
 * Browsers send Origin on every WebSocket handshake and do not apply CORS to it, so a page
 * on any site could open the feed with the user's credentials in hand: only the origins
 * allowed for CORS may. Clients that are not browsers send no Origin and are accepted.
 */
function originAllowed(origin: string | undefined, host: string | undefined, corsOrigins: string[]): boolean {
  if (origin === undefined || corsOrigins.includes("*") || corsOrigins.includes(origin)) return true;
  // The server's own pages (the web app and the console) connect from the origin they were
  // served from: the Origin's host is the Host the browser sent.
  try {
    return host !== undefined && new URL(origin).host === host.toLowerCase();
  } catch {
    return false;
  }
}

/**
 * GET /api/v1/ws — the live feed. Tokens never travel in URLs: the first message must be
 * `{"type":"auth","access_token":…,"since"?:…}` within 5 s (else close 4408; a bad token
 * closes 4401). The server answers `{"type":"ready"}`, replays events after `since`, then
 * streams `{"id","type","data"}` as they are published on any instance.
 */
export async function liveRoutes(
  app: FastifyInstance,
  {
    hub,
    outbox,
    corsOrigins,
    slots,
  }: { hub: LiveHub; outbox: OutboxRepository; corsOrigins: string[]; slots: SocketSlots },
) {
  // Dead peers: every socket is pinged; one that did not answer the previous ping is dropped.
  const alive = new WeakMap<WebSocket, boolean>();
  const sockets = new Set<WebSocket>();
  const heldSlots = new Map<WebSocket, SocketSlot>();
  const slotFailed = (error: unknown) =>
    app.log.warn({ err: error, event: "live.slot_failed" }, "live socket slot renewal or release failed");
  const heartbeat = setInterval(() => {
    for (const socket of sockets) {
      if (alive.get(socket) === false) {
        socket.terminate();
        continue;
      }
      alive.set(socket, false);
      socket.ping();
    }
    for (const slot of heldSlots.values()) slot.renew().catch(slotFailed);
    // Revocations reach sockets through pub/sub at once; this sweep catches any message lost
    // while a pub/sub connection was down.
    void hub.recheck(async (client) => {
      try {
        await app.principalFromToken(client.accessToken);
        return false;
      } catch (error) {
        return error instanceof UnauthorizedError;
      }
    });
  }, HEARTBEAT_MS);
  heartbeat.unref();
  app.addHook("onClose", async () => clearInterval(heartbeat));

  app.get(
    "/ws",
    {
      websocket: true,
      schema: {
        tags: ["live"],
        operationId: "openLiveFeed",
        summary: "Live feed (WebSocket)",
        security: [],
        description:
          'Upgrade to WebSocket, then send `{"type":"auth","access_token":"…","since":<last event id>}` ' +
          "as the first message. Events: `post.created`, `post.updated`, `post.deleted` to everyone; " +
          "`transfer.received` to the recipient. Close codes: 4401 bad token, or the token expired, " +
          "or its session was revoked (log out, password change, deactivation: reconnect with a fresh " +
          "token and `since`); 4408 no auth within 5 s; 1008 too many sockets for this user; 1013 too " +
          "slow to read; 1001 server shutting down. A browser's handshake from an origin not in " +
          "CORS_ORIGINS gets 403. Every message is described in the AsyncAPI 3.0 document at `/asyncapi.json`.",
        response: {
          101: {
            description: "Switching Protocols: the connection is now a WebSocket carrying JSON messages",
            type: "null",
          },
          403: ProblemRef,
          404: {
            description: "A plain GET without `Upgrade: websocket`",
            type: "null",
          },
        },
        ...problemCodes({ 403: ["origin_not_allowed"], default: ["invalid_host", "rate_limited"] }),
      },
      preValidation: async (request) => {
        if (!originAllowed(request.headers.origin, request.headers.host, corsOrigins)) {
          securityLogFor(request)({
            event: "live.origin_refused",
            origin: request.headers.origin?.slice(0, 200),
          });
          throw new ForbiddenError("This origin may not open the live feed", "origin_not_allowed");
        }
      },
      // @fastify/websocket hides its routes from the OpenAPI document; this one is part of
      // the API, so it is listed (documented as the upgrade it is). Its success is 101, never a
      // 2xx: the document adds `default` for the other refusals any request can meet before the
      // upgrade (400 invalid_host, 429 rate_limited), not the route.
      config: {
        swaggerTransform: ({ schema, url }) => ({
          schema: {
            ...schema,
            hide: false,
            response: { ...(schema.response as object), default: UpgradeRefusedRef },
          },
          url,
        }),
      },
    },
    (socket, request) => {
      // Handlers are attached synchronously, before any await, so no message is missed.
      sockets.add(socket);
      alive.set(socket, true);
      socket.on("pong", () => alive.set(socket, true));
      socket.on("close", () => {
        sockets.delete(socket);
        const slot = heldSlots.get(socket);
        heldSlots.delete(socket);
        slot?.release().catch(slotFailed);
      });
      let authenticated = false;
      const authTimer = setTimeout(
        () => socket.close(CLOSE_AUTH_TIMEOUT, "authentication timeout"),
        AUTH_TIMEOUT_MS,
      );

      socket.on("message", (data) => {
        if (authenticated) return; // the feed is one-way after authentication
        authenticated = true;
        clearTimeout(authTimer);
        const auth = parseAuth(data.toString());
        if (!auth) {
          socket.close(CLOSE_UNAUTHORIZED, "expected an auth message");
          return;
        }
        app
          .principalFromToken(auth.access_token)
          .then(async (principal) => {
            if (socket.readyState !== WebSocket.OPEN) return; // the client left meanwhile
            const slot = await slots.claim(principal.userId);
            if (!slot) {
              socket.close(CLOSE_POLICY_VIOLATION, "too many sockets for this user");
              return;
            }
            if (socket.readyState !== WebSocket.OPEN) {
              await slot.release(); // the client left while the slot was taken
              return;
            }
            heldSlots.set(socket, slot);
            const joined = hub.join(
              socket,
              // The connection ws took over at the upgrade: the hub writes event frames to it.
              request.raw.socket,
              {
                userId: principal.userId,
                sessionId: principal.sessionId,
                expiresAt: principal.expiresAt,
                accessToken: auth.access_token,
              },
              auth.since,
              () => outbox.publishedSince(auth.since ?? 0, principal.userId, CATCH_UP_LIMIT),
            );
            socket.send(JSON.stringify({ type: "ready", data: { user_id: principal.userId } }));
            // A revocation announced between the token check and the join found no socket to
            // close; checking once more now that the socket is in the hub closes that gap.
            app.principalFromToken(auth.access_token).catch((error: unknown) => {
              if (error instanceof UnauthorizedError) socket.close(CLOSE_UNAUTHORIZED, "session revoked");
            });
            joined.caughtUp.catch((error: unknown) => {
              app.log.warn({ err: error, event: "live.catch_up_failed" }, "live catch-up failed");
              socket.close(CLOSE_INTERNAL_ERROR, "try again");
            });
          })
          .catch((error: unknown) => {
            if (error instanceof UnauthorizedError) socket.close(CLOSE_UNAUTHORIZED, "invalid token");
            else {
              app.log.warn({ err: error, event: "live.join_failed" }, "live socket could not join");
              socket.close(CLOSE_INTERNAL_ERROR, "try again");
            }
          });
      });
    },
  );
}

export const LIVE_MAX_PAYLOAD = MAX_MESSAGE_BYTES;
