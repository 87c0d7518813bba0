import { FileProcessedSchema } from "../files/files.schemas.js";
import { PostSchema } from "../posts/posts.schemas.js";
import { TransferSchema } from "../transfers/transfers.schemas.js";

/**
 * The live feed's messages as an AsyncAPI 3.0 document, served at `/asyncapi.json`.
 *
 * OpenAPI can only say that `GET /api/v1/ws` upgrades; what travels over the socket is
 * described here. The payload schemas are the same TypeBox schemas the HTTP routes answer
 * with, so a post in a `post.created` event and a post from `GET /api/v1/posts/{id}` cannot
 * drift apart. The document describes Kaira's side: it receives `auth` and sends the rest.
 */

/** Plain JSON Schema: TypeBox keeps its own markers out of JSON, so a round trip drops them. */
const jsonSchema = (schema: unknown) => JSON.parse(JSON.stringify(schema)) as Record<string, unknown>;

const eventEnvelope = (topic: string, data: Record<string, unknown>, description: string) => ({
  type: "object",
  description,
  required: ["id", "type", "data"],
  additionalProperties: false,
  properties: {
    id: {
      type: "integer",
      minimum: 1,
      description: "The event's id, increasing. Send the last one you saw as `since` when you reconnect.",
    },
    type: { const: topic },
    data,
  },
});

const postExample = {
  id: 42,
  title: "Hello",
  content: "First post",
  tags: ["intro"],
  author: { id: 7, username: "mina" },
  attachments: [],
  created_at: "2026-11-30T09:00:00.000Z",
  updated_at: "2026-11-30T09:00:00.000Z",
};

const messages = {
  auth: {
    name: "auth",
    title: "Authenticate",
    summary: "The first message a client sends, within 5 seconds of the upgrade.",
    description:
      "Tokens never travel in URLs, so the socket authenticates with its first message. A bad " +
      "or expired token closes the socket with 4401; no auth message within 5 s closes it with " +
      "4408. Messages after this one are ignored: the feed is one-way.",
    payload: {
      type: "object",
      required: ["type", "access_token"],
      properties: {
        type: { const: "auth" },
        access_token: { type: "string", description: "An access token from POST /api/v1/auth/token" },
        since: {
          type: "integer",
          minimum: 0,
          description:
            "The id of the last event this client saw. Events after it (up to 1,000) are replayed " +
            "before live ones, so a reconnect loses nothing; no event is sent twice.",
        },
      },
    },
    examples: [{ name: "reconnect", payload: { type: "auth", access_token: "eyJhbGciOi…", since: 1290 } }],
  },
  ready: {
    name: "ready",
    title: "Ready",
    summary: "The token was accepted; replayed events (after `since`) and live events follow.",
    payload: {
      type: "object",
      required: ["type", "data"],
      additionalProperties: false,
      properties: {
        type: { const: "ready" },
        data: {
          type: "object",
          required: ["user_id"],
          properties: { user_id: { type: "integer", description: "Whose token authenticated the socket" } },
        },
      },
    },
    examples: [{ name: "ready", payload: { type: "ready", data: { user_id: 7 } } }],
  },
  postCreated: {
    name: "post.created",
    title: "Post created",
    summary: "Sent to every authenticated socket.",
    payload: eventEnvelope("post.created", jsonSchema(PostSchema), "A post was published."),
    examples: [{ name: "post", payload: { id: 1291, type: "post.created", data: postExample } }],
  },
  postUpdated: {
    name: "post.updated",
    title: "Post updated",
    summary: "Sent to every authenticated socket, also when a file a post listed was deleted.",
    payload: eventEnvelope(
      "post.updated",
      jsonSchema(PostSchema),
      "A post changed; `data` is the post as it now is.",
    ),
    examples: [
      {
        name: "post",
        payload: { id: 1292, type: "post.updated", data: { ...postExample, title: "Hello again" } },
      },
    ],
  },
  postDeleted: {
    name: "post.deleted",
    title: "Post deleted",
    summary: "Sent to every authenticated socket.",
    payload: eventEnvelope(
      "post.deleted",
      {
        type: "object",
        required: ["id"],
        additionalProperties: false,
        properties: { id: { type: "integer", description: "The deleted post's id" } },
      },
      "A post was deleted.",
    ),
    examples: [{ name: "post", payload: { id: 1293, type: "post.deleted", data: { id: 42 } } }],
  },
  transferReceived: {
    name: "transfer.received",
    title: "Transfer received",
    summary: "Sent only to the recipient's sockets.",
    payload: eventEnvelope("transfer.received", jsonSchema(TransferSchema), "Credits arrived."),
    examples: [
      {
        name: "transfer",
        payload: {
          id: 1294,
          type: "transfer.received",
          data: {
            id: 9,
            from_user_id: 3,
            to_user_id: 7,
            amount: 500,
            memo: "thanks",
            created_at: "2026-11-30T09:01:00.000Z",
          },
        },
      },
    ],
  },
  fileProcessed: {
    name: "file.processed",
    title: "Thumbnail ready",
    summary: "Sent only to the file's owner, when the preview of an uploaded image is ready.",
    payload: eventEnvelope("file.processed", jsonSchema(FileProcessedSchema), "A thumbnail was made."),
    examples: [
      {
        name: "thumbnail",
        payload: {
          id: 1295,
          type: "file.processed",
          data: {
            id: 12,
            thumbnail_url: "/api/v1/files/12/thumbnail",
            thumbnail_content_type: "image/webp",
            thumbnail_size: 5120,
          },
        },
      },
    ],
  },
} as const;

type MessageName = keyof typeof messages;
const messageRef = (name: MessageName) => ({ $ref: `#/channels/liveFeed/messages/${name}` });

/** Close codes a client must handle, in the order a client meets them. */
export const LIVE_CLOSE_CODES = {
  1001: "The server is shutting down: reconnect (another instance will take you) with `since`.",
  1008: "Too many sockets for this user (WS_MAX_SOCKETS_PER_USER).",
  1011: "The server could not join the socket to the feed: try again later.",
  1013: "The client read too slowly and fell too far behind: reconnect with `since`.",
  4401: "The token is invalid or expired, or its session was revoked: get a fresh token, reconnect with `since`.",
  4408: "No auth message within 5 seconds.",
} as const;

/**
 * The document for a client that reached this server at `host` (as the request named it)
 * over `secure` (TLS) or plain HTTP.
 */
export function liveAsyncApiDocument({ host, secure }: { host: string; secure: boolean }) {
  const closeCodes = Object.entries(LIVE_CLOSE_CODES)
    .map(([code, meaning]) => `- \`${code}\`: ${meaning}`)
    .join("\n");
  return {
    asyncapi: "3.0.0",
    id: "urn:kaira:live-feed",
    info: {
      title: "Kaira live feed",
      version: "1.0.0",
      description:
        "Live events over one WebSocket per client: new, changed and deleted posts for everyone, " +
        "incoming transfers for their recipient, and ready thumbnails for the file's owner. Upgrade `GET /api/v1/ws`, send `auth` first, " +
        "wait for `ready`, then read events. Browsers may open it only from an origin in " +
        `CORS_ORIGINS (403 otherwise).\n\nClose codes:\n${closeCodes}`,
      license: { name: "MIT", url: "https://opensource.org/licenses/MIT" },
    },
    defaultContentType: "application/json",
    servers: {
      kaira: {
        host,
        protocol: secure ? "wss" : "ws",
        description: "This server",
      },
    },
    channels: {
      liveFeed: {
        address: "/api/v1/ws",
        title: "Live feed",
        description: "The WebSocket at GET /api/v1/ws. Messages are JSON text frames of at most 64 KiB.",
        servers: [{ $ref: "#/servers/kaira" }],
        messages,
      },
    },
    operations: {
      authenticate: {
        action: "receive",
        title: "Authenticate the socket",
        channel: { $ref: "#/channels/liveFeed" },
        messages: [messageRef("auth")],
        reply: { channel: { $ref: "#/channels/liveFeed" }, messages: [messageRef("ready")] },
      },
      sendPostEvents: {
        action: "send",
        title: "Post events",
        summary: "Every post written on any instance, to every authenticated socket.",
        channel: { $ref: "#/channels/liveFeed" },
        messages: [messageRef("postCreated"), messageRef("postUpdated"), messageRef("postDeleted")],
      },
      sendFileEvents: {
        action: "send",
        title: "File events",
        summary: "An uploaded image's thumbnail is ready, to the file's owner only.",
        channel: { $ref: "#/channels/liveFeed" },
        messages: [messageRef("fileProcessed")],
      },
      sendTransferEvents: {
        action: "send",
        title: "Transfer events",
        summary: "Each transfer, to its recipient's sockets only.",
        channel: { $ref: "#/channels/liveFeed" },
        messages: [messageRef("transferReceived")],
      },
    },
  };
}
