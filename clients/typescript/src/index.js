// Kaira's client for API v1. Plain ES modules with types beside them (index.d.ts), so the
// same file runs in Node.js (>= 20.19), in a bundler, and in a browser straight from the
// server, with no build step. Every operation of the OpenAPI document is on `client.api`
// (openapi-fetch, typed from the generated schema.d.ts); this file adds what a document
// cannot say: how tokens are obtained and renewed, how files are uploaded, and how the live
// feed is followed across reconnects.
import createFetchClient from "openapi-fetch";

const API = "/api/v1";

/** A problem+json answer (RFC 9457), thrown by the helpers below. */
export class KairaError extends Error {
  /**
   * @param {number} status
   * @param {{ code?: string, detail?: string, title?: string } & Record<string, unknown>} problem
   */
  constructor(status, problem) {
    super(problem.detail ?? problem.title ?? `HTTP ${status}`);
    this.name = "KairaError";
    this.status = status;
    this.code = problem.code ?? "unknown";
    this.problem = problem;
  }
}

async function problemOf(response) {
  try {
    return await response.clone().json();
  } catch {
    return { detail: `HTTP ${response.status}` };
  }
}

/** The CSRF cookie a browser session's refresh and logout echo (see `refreshTokenDelivery`). */
function csrfFromDocument() {
  const cookies = globalThis.document?.cookie ?? "";
  return /(?:^|;\s*)kaira_csrf=([^;]+)/.exec(cookies)?.[1];
}

const toSession = (body) => ({
  accessToken: body.access_token,
  refreshToken: body.refresh_token,
  expiresAt: Date.now() + body.expires_in * 1000,
  scope: body.scope,
});

/** Reconnect delays of the live feed: doubling from 250 ms to 10 s, with jitter. */
function backoff(attempt) {
  const ceiling = Math.min(10_000, 250 * 2 ** attempt);
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

/** Close codes after which reconnecting cannot help. */
const FINAL_CLOSE_CODES = new Set([1008]);
const CLOSE_UNAUTHORIZED = 4401;

/** @param {import("./index.js").KairaClientOptions} options */
export function createKairaClient(options) {
  const baseUrl = options.baseUrl.replace(/\/+$/, "");
  const baseFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const WebSocketImpl = options.WebSocket ?? globalThis.WebSocket;
  /** @type {import("./index.js").Session | null} */
  let session = options.session ?? null;
  /** @type {Promise<import("./index.js").Session> | null} */
  let refreshing = null;
  // Browser apps: the refresh token stays in Kaira's HttpOnly cookie, never in this client.
  const inCookie = options.refreshTokenDelivery === "cookie";
  const csrfToken = options.csrfToken ?? csrfFromDocument;
  /** What every token request adds in cookie mode: the cookies, and asking for the cookie back. */
  const cookieInit = (headers) =>
    inCookie
      ? { credentials: "include", headers: { ...headers, "x-refresh-token-delivery": "cookie" } }
      : { headers };

  function setSession(next) {
    session = next;
    options.onSession?.(next);
  }

  const isTokenEndpoint = (url) =>
    /\/auth\/(token|refresh|logout|mfa\/verify|oidc\/exchange)$/.test(new URL(url).pathname);

  // Adds the access token and, when it has expired or was revoked (401), renews it once with
  // the refresh token and sends the request again.
  async function authorizedFetch(request, init) {
    const send = () => {
      const attempt = request.clone();
      if (session && !attempt.headers.has("authorization") && !isTokenEndpoint(attempt.url)) {
        attempt.headers.set("authorization", `Bearer ${session.accessToken}`);
      }
      return baseFetch(attempt, init);
    };
    const response = await send();
    if (
      response.status !== 401 ||
      !session ||
      isTokenEndpoint(request.url) ||
      request.headers.has("authorization")
    ) {
      return response;
    }
    try {
      await refresh();
    } catch {
      return response; // the session is over: the caller sees the original 401
    }
    return send();
  }

  const api = createFetchClient({ baseUrl, fetch: authorizedFetch });

  async function tokenRequest(path, body, headers = {}) {
    const response = await baseFetch(`${baseUrl}${API}${path}`, {
      method: "POST",
      ...cookieInit({ "content-type": "application/json", accept: "application/json", ...headers }),
      body: JSON.stringify(body),
    });
    if (!response.ok) throw new KairaError(response.status, await problemOf(response));
    return response.json();
  }

  /** A token answer, or the second step it asks for (a 403 `mfa_required` with its token). */
  async function signInAnswer(response) {
    if (!response.ok) {
      const problem = await problemOf(response);
      if (
        response.status === 403 &&
        problem.code === "mfa_required" &&
        typeof problem.mfa_token === "string"
      ) {
        return { mfaRequired: true, mfaToken: problem.mfa_token };
      }
      throw new KairaError(response.status, problem);
    }
    setSession(toSession(await response.json()));
    return { mfaRequired: false, session };
  }

  /** The body and headers of a refresh or logout: the refresh token, or (cookie mode) the CSRF header. */
  function refreshCredentials() {
    if (!inCookie) return session ? { body: { refresh_token: session.refreshToken }, headers: {} } : null;
    const csrf = csrfToken();
    return csrf ? { body: {}, headers: { "x-csrf-token": csrf } } : null;
  }

  /** Renews the token pair. Concurrent callers share one renewal: a refresh token is single-use. */
  function refresh() {
    const credentials = refreshCredentials();
    if (!credentials)
      return Promise.reject(new KairaError(401, { code: "not_signed_in", detail: "Not signed in" }));
    refreshing ??= tokenRequest("/auth/refresh", credentials.body, credentials.headers)
      .then((body) => {
        const next = toSession(body);
        setSession(next);
        return next;
      })
      .catch((error) => {
        if (error instanceof KairaError && error.status === 401) setSession(null);
        throw error;
      })
      .finally(() => {
        refreshing = null;
      });
    return refreshing;
  }

  return {
    api,

    get session() {
      return session;
    },

    async login(login, password, scope) {
      const form = new URLSearchParams({ grant_type: "password", username: login, password });
      if (scope) form.set("scope", scope);
      const response = await baseFetch(`${baseUrl}${API}/auth/token`, {
        method: "POST",
        ...cookieInit({ "content-type": "application/x-www-form-urlencoded", accept: "application/json" }),
        body: form,
      });
      // A second factor may be needed: a 403 whose problem carries the token for the next step.
      return signInAnswer(response);
    },

    async exchangeSignInCode(code) {
      const response = await baseFetch(`${baseUrl}${API}/auth/oidc/exchange`, {
        method: "POST",
        ...cookieInit({ "content-type": "application/json", accept: "application/json" }),
        body: JSON.stringify({ code }),
      });
      return signInAnswer(response);
    },

    async verifyMfa(mfaToken, code) {
      setSession(toSession(await tokenRequest("/auth/mfa/verify", { mfa_token: mfaToken, code })));
      return session;
    },

    refresh,

    async logout() {
      const credentials = refreshCredentials();
      setSession(null);
      if (!credentials) return;
      const response = await baseFetch(`${baseUrl}${API}/auth/logout`, {
        method: "POST",
        ...cookieInit({ "content-type": "application/json", ...credentials.headers }),
        body: JSON.stringify(credentials.body),
      });
      if (!response.ok) throw new KairaError(response.status, await problemOf(response));
    },

    async uploadFile(file, filename) {
      const form = new FormData();
      form.append("file", file, filename);
      const { data, error, response } = await api.POST(`${API}/files`, {
        // The document describes the multipart body; FormData is what actually carries it.
        body: /** @type {any} */ (form),
      });
      if (error || !data) throw new KairaError(response.status, error ?? {});
      return data;
    },

    liveFeed(handlers) {
      if (!WebSocketImpl) {
        throw new Error("No WebSocket implementation: pass `WebSocket` (for example from the ws package)");
      }
      const url = `${baseUrl.replace(/^http/, "ws")}${API}/ws`;
      let lastEventId = handlers.since;
      let socket = null;
      let stopped = false;
      let attempt = 0;
      let timer = null;

      const stop = (code, reason) => {
        stopped = true;
        clearTimeout(timer);
        handlers.onClose?.({ code, reason, final: true });
      };

      const connect = () => {
        if (stopped) return;
        if (!session) return stop(CLOSE_UNAUTHORIZED, "not signed in");
        socket = new WebSocketImpl(url);
        socket.onopen = () => {
          const auth = { type: "auth", access_token: session?.accessToken ?? "" };
          if (lastEventId !== undefined) auth.since = lastEventId;
          socket.send(JSON.stringify(auth));
        };
        socket.onmessage = (message) => {
          let frame;
          try {
            frame = JSON.parse(typeof message.data === "string" ? message.data : String(message.data));
          } catch {
            return; // not JSON: not from Kaira
          }
          if (frame.type === "ready") {
            attempt = 0;
            handlers.onReady?.(frame.data);
            return;
          }
          // Catch-up and live delivery never repeat an event, but a client may reconnect with an
          // older `since` than it holds; anything at or below the last seen id is skipped.
          if (typeof frame.id === "number") {
            if (lastEventId !== undefined && frame.id <= lastEventId) return;
            lastEventId = frame.id;
          }
          handlers.onEvent(frame);
        };
        socket.onerror = () => {
          // A close event always follows; reconnecting is decided there.
        };
        socket.onclose = (event) => {
          socket = null;
          if (stopped) return;
          if (FINAL_CLOSE_CODES.has(event.code)) return stop(event.code, event.reason);
          handlers.onClose?.({ code: event.code, reason: event.reason, final: false });
          const again = () => {
            timer = setTimeout(connect, backoff(attempt++));
          };
          // The token expired or its session was revoked: renew once, or stop for good.
          if (event.code === CLOSE_UNAUTHORIZED) {
            refresh().then(again, () => stop(event.code, "session ended"));
          } else again();
        };
      };

      connect();
      return {
        get lastEventId() {
          return lastEventId;
        },
        close() {
          if (stopped) return;
          stopped = true;
          clearTimeout(timer);
          socket?.close(1000, "client closed");
        },
      };
    },
  };
}
