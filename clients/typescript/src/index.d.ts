import type { Client } from "openapi-fetch";
import type { components, paths } from "./schema.js";

export type { components, paths } from "./schema.js";

/** The named schemas of the API v1 document: `Schema<"Problem">`. */
export type Schema<Name extends keyof components["schemas"]> = components["schemas"][Name];

/** What an upload answers: the stored file's metadata. */
export type FileMetadata = paths["/api/v1/files"]["post"]["responses"][201]["content"]["application/json"];

/** The tokens of one signed-in session. */
export interface Session {
  accessToken: string;
  /**
   * Single use: each refresh replaces it. Keep it where your platform keeps secrets.
   * Absent with `refreshTokenDelivery: "cookie"`: Kaira's HttpOnly cookie holds it.
   */
  refreshToken?: string;
  /** When the access token expires (milliseconds since the epoch, by this machine's clock). */
  expiresAt: number;
  /** The scopes granted, space-separated. */
  scope: string;
}

export interface KairaClientOptions {
  /** Where Kaira listens, such as `http://localhost:9000` (no `/api/v1`). */
  baseUrl: string;
  /** A fetch of your own (tests, proxies, timeouts). Defaults to the global fetch. */
  fetch?: typeof fetch;
  /**
   * A WebSocket constructor for the live feed. Browsers and Node.js 22+ have one globally;
   * on Node.js 20 pass `WebSocket` from the `ws` package.
   */
  WebSocket?: new (
    url: string,
  ) => object;
  /** A session to resume, for example one restored from secure storage. */
  session?: Session;
  /** Called whenever the session changes: after login, each refresh, and logout (`null`). */
  onSession?: (session: Session | null) => void;
  /**
   * For browser apps (OAuth 2.0 for Browser-Based Apps): `"cookie"` asks the token endpoints
   * for the refresh token as an HttpOnly cookie (`X-Refresh-Token-Delivery: cookie`, requests
   * with `credentials: "include"`), so JavaScript never holds it; `refresh()` and `logout()`
   * then send the cookie with the CSRF value in `X-CSRF-Token`. `refresh()` works without a
   * session too: it resumes one after a page load.
   */
  refreshTokenDelivery?: "body" | "cookie";
  /** The CSRF value for cookie mode. Defaults to the `kaira_csrf` cookie of `document.cookie`. */
  csrfToken?: () => string | undefined;
}

export type LoginResult =
  | { mfaRequired: false; session: Session }
  /** The account has a second factor: finish with `verifyMfa(mfaToken, code)`. */
  | { mfaRequired: true; mfaToken: string };

/** A message of the live feed (see `/asyncapi.json`). */
export interface LiveEvent {
  id: number;
  type: "post.created" | "post.updated" | "post.deleted" | "transfer.received" | (string & {});
  data: unknown;
}

export interface LiveFeedHandlers {
  /** Each event, once, in order, across reconnects. */
  onEvent: (event: LiveEvent) => void;
  /** The socket is authenticated; replayed and live events follow. */
  onReady?: (data: { user_id: number }) => void;
  /**
   * The socket closed. With `final: false` the feed reconnects by itself (catching up from
   * the last event seen); with `final: true` it has stopped (closed by you, too many sockets,
   * or the session ended and could not be renewed).
   */
  onClose?: (close: { code: number; reason: string; final: boolean }) => void;
  /** Resume after this event id (for example one kept from an earlier visit). */
  since?: number;
}

export interface LiveFeed {
  /** The id of the last event delivered, to resume from later. */
  readonly lastEventId: number | undefined;
  close(): void;
}

export interface KairaClient {
  /**
   * Every operation of the API, typed from the OpenAPI document:
   * `client.api.GET("/api/v1/posts/{id}", { params: { path: { id: 1 } } })`. The access token
   * is added, and renewed once with the refresh token when a request answers 401.
   */
  api: Client<paths>;
  /** The current session, or `null` when signed out. */
  readonly session: Session | null;
  /** Logs in with an email or username; throws `KairaError` (401 `invalid_credentials`, 429, …). */
  login(login: string, password: string, scope?: string): Promise<LoginResult>;
  /**
   * Signs in with the one-time code an OpenID Connect sign-in brought back to OIDC_RETURN_URL
   * (`?code=`); like `login`, it may ask for the second factor.
   */
  exchangeSignInCode(code: string): Promise<LoginResult>;
  /** The second step of a login with MFA: a TOTP code, or one of the recovery codes. */
  verifyMfa(mfaToken: string, code: string): Promise<Session>;
  /** Renews the token pair now (cookie mode: or resumes a session); concurrent calls share one renewal. */
  refresh(): Promise<Session>;
  /** Ends the session on the server (its tokens and live sockets stop at once; cookie mode: and clears the cookies). */
  logout(): Promise<void>;
  /** Uploads a file (multipart `file` field); answers its metadata. */
  uploadFile(file: Blob, filename: string): Promise<FileMetadata>;
  /** Follows the live feed: reconnects with backoff and catches up with `since`. */
  liveFeed(handlers: LiveFeedHandlers): LiveFeed;
}

export function createKairaClient(options: KairaClientOptions): KairaClient;

/** A problem+json answer (RFC 9457). */
export class KairaError extends Error {
  constructor(status: number, problem: { code?: string; detail?: string; title?: string });
  readonly status: number;
  /** The stable machine-readable code, such as `invalid_credentials` or `rate_limited`. */
  readonly code: string;
  readonly problem: Record<string, unknown>;
}
