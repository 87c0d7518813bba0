// The public API, as the web app and the console use it: through Kaira's TypeScript client
// (clients/typescript, served as /ui/vendor/kaira-client.mjs), which adds the access token,
// renews it once on a 401 and turns problem+json answers into errors. It runs in cookie mode:
// the access token lives only in the client's memory (never localStorage/sessionStorage), the
// refresh token in the HttpOnly cookie JavaScript cannot read, whose CSRF companion the client
// echoes in a header; a page reload resumes the session from that cookie.
import { createKairaClient, KairaError } from "kaira-client";

const signedOutListeners = new Set();

const kaira = createKairaClient({
  baseUrl: location.origin,
  refreshTokenDelivery: "cookie",
  // null: logged out, or the session ended (revoked, deactivated) and could not be renewed.
  onSession: (session) => {
    if (session === null) for (const listener of signedOutListeners) listener();
  },
});

/** A problem+json answer: `status`, `code` and the whole `problem`; the message is its detail. */
export const ApiError = KairaError;

/** Called when the session ended (logout, revoked, deactivated): the page shows the sign-in form. */
export function onSignedOut(listener) {
  signedOutListeners.add(listener);
  return () => signedOutListeners.delete(listener);
}

/** Password sign-in; `{ mfaToken }` when the account asks for a second factor. */
export async function signIn(login, password) {
  const result = await kaira.login(login, password);
  return result.mfaRequired ? { mfaToken: result.mfaToken } : {};
}

/** The one-time code an OpenID Connect sign-in brought back (OIDC_RETURN_URL?code=…). */
export async function exchangeOidcCode(code) {
  const result = await kaira.exchangeSignInCode(code);
  return result.mfaRequired ? { mfaToken: result.mfaToken } : {};
}

export const verifyMfa = (mfaToken, code) => kaira.verifyMfa(mfaToken, code);

/** A new access token from the refresh cookie; false when there is no session to resume. */
export const refresh = () =>
  kaira.refresh().then(
    () => true,
    () => false,
  );

export const currentAccessToken = () => kaira.session?.accessToken ?? null;

/** A fresh access token for the live socket (after it closed with 4401), or null: signed out. */
export async function renewAccessToken() {
  if (await refresh()) return currentAccessToken();
  // Ends the page's session if the client still had one.
  if (kaira.session) await kaira.logout().catch(() => {});
  return null;
}

export async function signOut() {
  await kaira.logout().catch(() => {});
}

/**
 * One API call by path (under /api/v1). `json` sends a JSON body, `form` a FormData
 * (uploads); `raw` returns the Response. Refused answers throw an ApiError.
 */
export async function api(path, { method = "GET", json, form, headers = {}, raw = false } = {}) {
  const { data, error, response } = await kaira.api.request(method, `/api/v1${path}`, {
    headers,
    body: json !== undefined ? json : form,
    parseAs: raw ? "stream" : "json",
  });
  if (!response.ok) {
    const problem =
      typeof error === "object" && error !== null ? error : { detail: `Request failed (${response.status})` };
    throw new KairaError(response.status, problem);
  }
  if (raw) return response;
  return response.status === 204 ? null : data;
}

export const query = (params) => {
  const entries = Object.entries(params).filter(
    ([, value]) => value !== undefined && value !== null && value !== "",
  );
  return entries.length ? `?${new URLSearchParams(entries)}` : "";
};
