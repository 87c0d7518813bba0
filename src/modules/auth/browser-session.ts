import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyReply, FastifyRequest } from "fastify";
import { Type } from "typebox";
import { ForbiddenError } from "../../shared/errors.js";
import { toTokenResponse } from "./auth.mappers.js";
import type { TokenPair } from "./auth.service.js";

/**
 * Refresh tokens for browser clients, after the OAuth 2.0 for Browser-Based Apps BCP: a page's
 * JavaScript never holds the refresh token. The token endpoint puts it in an HttpOnly cookie
 * when asked to, and refresh and logout read it from there, guarded against cross-site
 * requests. API clients that send `refresh_token` in the body are unaffected.
 */

/** The header a browser client sends to the token endpoint to get its refresh token as a cookie. */
export const DELIVERY_HEADER = "x-refresh-token-delivery";
/** The header carrying the CSRF token on a cookie-authenticated refresh or logout. */
export const CSRF_HEADER = "x-csrf-token";
export const REFRESH_COOKIE = "kaira_refresh";
export const CSRF_COOKIE = "kaira_csrf";
/**
 * The refresh cookie goes only to the auth routes (refresh and logout live there), never to
 * the rest of the API or the pages, so nothing else can be made to act on it.
 */
export const REFRESH_COOKIE_PATH = "/api/v1/auth";

export const TokenDeliveryHeadersSchema = Type.Object({
  [DELIVERY_HEADER]: Type.Optional(
    Type.Literal("cookie", {
      description:
        "For browser apps: `cookie` puts the refresh token in an HttpOnly, SameSite=Strict cookie " +
        `(\`${REFRESH_COOKIE}\`, path ${REFRESH_COOKIE_PATH}; Secure except on localhost over http) ` +
        `instead of the body, and sets a readable \`${CSRF_COOKIE}\` cookie whose value refresh and ` +
        `logout then need in the \`X-CSRF-Token\` header.`,
    }),
  ),
});

export const CookieRefreshHeadersSchema = Type.Object({
  [CSRF_HEADER]: Type.Optional(
    Type.String({
      maxLength: 200,
      description: `With the \`${REFRESH_COOKIE}\` cookie instead of a body token: the value of the \`${CSRF_COOKIE}\` cookie.`,
    }),
  ),
});

/**
 * The CSRF token of a refresh token: a hash of it. A page of the app can read it (from its
 * cookie) and must echo it in a header; a cross-site request can do neither, and nobody can
 * compute it without the refresh token, which only the browser's cookie jar holds. It changes
 * with every rotation, so a leaked value is soon worthless.
 */
const csrfTokenOf = (refreshToken: string) =>
  createHash("sha256").update(`kaira-csrf:${refreshToken}`).digest("base64url");

/**
 * The two cookies here are ours, with values that need no escaping (base64url), so setting
 * and reading them takes a few lines; the `cookie` package's current major needs Node 22.
 */
function serialize(
  name: string,
  value: string,
  options: { httpOnly?: boolean; secure: boolean; path: string; maxAge: number },
): string {
  return [
    `${name}=${value}`,
    `Path=${options.path}`,
    `Max-Age=${options.maxAge}`,
    "SameSite=Strict",
    ...(options.httpOnly ? ["HttpOnly"] : []),
    ...(options.secure ? ["Secure"] : []),
  ].join("; ");
}

/** The value of one cookie in a Cookie header (the first, as browsers send the most specific path first). */
function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of header?.split(";") ?? []) {
    const separator = part.indexOf("=");
    if (separator > 0 && part.slice(0, separator).trim() === name) return part.slice(separator + 1).trim();
  }
  return undefined;
}

const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);

/**
 * Secure everywhere except plain http on the loopback address, where browsers would drop a
 * Secure cookie set over http (a developer's `npm start`).
 */
function secureFor(request: FastifyRequest): boolean {
  return request.protocol === "https" || !LOOPBACK.has(request.hostname.toLowerCase());
}

export const wantsRefreshCookie = (request: FastifyRequest) => request.headers[DELIVERY_HEADER] === "cookie";

/**
 * A token pair as the client asked for it: the refresh token in the body, or (browser apps)
 * in the cookie and left out of the body. Every route that hands out pairs answers through this.
 */
export function tokenAnswer(
  request: FastifyRequest,
  reply: FastifyReply,
  pair: TokenPair,
  options: { inCookie: boolean; cookieMaxAgeSeconds: number },
) {
  if (!options.inCookie) return toTokenResponse(pair);
  setRefreshCookie(request, reply, pair.refreshToken, options.cookieMaxAgeSeconds);
  const { refresh_token: _inCookie, ...body } = toTokenResponse(pair);
  return body;
}

/** Sets the refresh cookie and its CSRF companion; the body then leaves the token out. */
export function setRefreshCookie(
  request: FastifyRequest,
  reply: FastifyReply,
  refreshToken: string,
  maxAgeSeconds: number,
): void {
  const secure = secureFor(request);
  reply.header("set-cookie", [
    serialize(REFRESH_COOKIE, refreshToken, {
      httpOnly: true,
      secure,
      path: REFRESH_COOKIE_PATH,
      maxAge: maxAgeSeconds,
    }),
    // Readable by the page (not HttpOnly) so it can echo it; path / so every page sees it.
    serialize(CSRF_COOKIE, csrfTokenOf(refreshToken), {
      secure,
      path: "/",
      maxAge: maxAgeSeconds,
    }),
  ]);
}

export function clearRefreshCookie(request: FastifyRequest, reply: FastifyReply): void {
  const secure = secureFor(request);
  reply.header("set-cookie", [
    serialize(REFRESH_COOKIE, "", {
      httpOnly: true,
      secure,
      path: REFRESH_COOKIE_PATH,
      maxAge: 0,
    }),
    serialize(CSRF_COOKIE, "", { secure, path: "/", maxAge: 0 }),
  ]);
}

export interface PresentedRefreshToken {
  token: string;
  /** It came from the cookie: the answer must go back the same way. */
  fromCookie: boolean;
}

/**
 * The refresh token a request presents: the body's, else the cookie's — and then only with
 * the matching CSRF header (403 `csrf_failed` otherwise). Undefined when there is neither.
 */
export function presentedRefreshToken(
  request: FastifyRequest,
  bodyToken: string | undefined,
): PresentedRefreshToken | undefined {
  if (bodyToken !== undefined) return { token: bodyToken, fromCookie: false };
  const token = cookieValue(request.headers.cookie, REFRESH_COOKIE);
  if (!token) return undefined;
  const presented = request.headers[CSRF_HEADER];
  const expected = Buffer.from(csrfTokenOf(token));
  const given = Buffer.from(typeof presented === "string" ? presented : "");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new ForbiddenError(
      `A cookie-authenticated request needs the ${CSRF_COOKIE} cookie's value in the X-CSRF-Token header`,
      "csrf_failed",
    );
  }
  return { token, fromCookie: true };
}
