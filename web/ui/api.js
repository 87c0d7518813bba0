// The public API, as the web app and the console use it. The access token lives only in this
// module's memory (never localStorage/sessionStorage): a page reload gets a new one from the
// refresh cookie, which JavaScript cannot read; the CSRF cookie next to it is echoed in a header.

const API = "/api/v1";
let accessToken = null;
let refreshing = null;
const signedOutListeners = new Set();

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || `Request failed (${status})`);
    this.status = status;
    this.code = problem?.code;
    this.problem = problem;
  }
}

/** Called when the session ended (logout, revoked, deactivated): the page shows the sign-in form. */
export function onSignedOut(listener) {
  signedOutListeners.add(listener);
  return () => signedOutListeners.delete(listener);
}

function signedOut() {
  const had = accessToken !== null;
  accessToken = null;
  if (had) for (const listener of signedOutListeners) listener();
}

function csrfToken() {
  const match = /(?:^|;\s*)kaira_csrf=([^;]+)/.exec(document.cookie);
  return match ? match[1] : undefined;
}

async function problemOf(response) {
  try {
    return await response.json();
  } catch {
    return undefined;
  }
}

/** Token answers keep the refresh token in the cookie (X-Refresh-Token-Delivery: cookie). */
async function tokenRequest(path, init) {
  const response = await fetch(`${API}${path}`, {
    method: "POST",
    credentials: "same-origin",
    ...init,
    headers: { "x-refresh-token-delivery": "cookie", ...init.headers },
  });
  const body = await problemOf(response);
  if (!response.ok) throw new ApiError(response.status, body);
  accessToken = body.access_token;
  return body;
}

/** Password sign-in; `{ mfaToken }` when the account asks for a second factor. */
export async function signIn(login, password) {
  try {
    await tokenRequest("/auth/token", {
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ username: login, password }),
    });
    return {};
  } catch (error) {
    if (error instanceof ApiError && error.code === "mfa_required")
      return { mfaToken: error.problem.mfa_token };
    throw error;
  }
}

/**
 * The one-time code an OpenID Connect sign-in brought back (OIDC_RETURN_URL?code=…) for the
 * tokens, the refresh token into the cookie; `{ mfaToken }` when a second factor is asked for.
 */
export async function exchangeOidcCode(code) {
  try {
    await tokenRequest("/auth/oidc/exchange", {
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ code }),
    });
    return {};
  } catch (error) {
    if (error instanceof ApiError && error.code === "mfa_required")
      return { mfaToken: error.problem.mfa_token };
    throw error;
  }
}

export function verifyMfa(mfaToken, code) {
  return tokenRequest("/auth/mfa/verify", {
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ mfa_token: mfaToken, code }),
  });
}

/** A new access token from the refresh cookie; false when there is no session to resume. */
export function refresh() {
  refreshing ??= (async () => {
    const csrf = csrfToken();
    if (!csrf) return false;
    try {
      await tokenRequest("/auth/refresh", {
        headers: { "content-type": "application/json", "x-csrf-token": csrf },
        body: "{}",
      });
      return true;
    } catch {
      return false;
    }
  })().finally(() => {
    refreshing = null;
  });
  return refreshing;
}

export const hasSession = () => accessToken !== null;
export const currentAccessToken = () => accessToken;

/** A fresh access token for the live socket (after it closed with 4401), or null: signed out. */
export async function renewAccessToken() {
  if (await refresh()) return accessToken;
  signedOut();
  return null;
}

export async function signOut() {
  const csrf = csrfToken();
  try {
    if (csrf) {
      await fetch(`${API}/auth/logout`, {
        method: "POST",
        credentials: "same-origin",
        headers: { "content-type": "application/json", "x-csrf-token": csrf },
        body: "{}",
      });
    }
  } finally {
    signedOut();
  }
}

/**
 * One API call with the access token; a 401 gets one refresh and one retry, then the session
 * is over. `json` sends a JSON body, `form` a FormData (uploads); `raw` returns the Response.
 */
export async function api(path, { method = "GET", json, form, headers = {}, raw = false } = {}) {
  const send = () =>
    fetch(`${API}${path}`, {
      method,
      credentials: "same-origin",
      headers: {
        ...(accessToken ? { authorization: `Bearer ${accessToken}` } : {}),
        ...(json !== undefined ? { "content-type": "application/json" } : {}),
        ...headers,
      },
      body: json !== undefined ? JSON.stringify(json) : form,
    });
  let response = await send();
  if (response.status === 401 && accessToken !== null) {
    if (await refresh()) response = await send();
    else signedOut();
  }
  if (raw && response.ok) return response;
  if (!response.ok) throw new ApiError(response.status, await problemOf(response));
  return response.status === 204 ? null : response.json();
}

export const query = (params) => {
  const entries = Object.entries(params).filter(
    ([, value]) => value !== undefined && value !== null && value !== "",
  );
  return entries.length ? `?${new URLSearchParams(entries)}` : "";
};
