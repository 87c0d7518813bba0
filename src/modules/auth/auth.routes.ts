import fastifyFormbody from "@fastify/formbody";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { FastifyReply, FastifyRequest } from "fastify";
import { Type } from "typebox";
import { answerNoStore } from "../../http/no-store.js";
import { OAuthProblemRef, ProblemRef, problemCodes } from "../../http/openapi.js";
import { securityLogFor } from "../../http/security-log.js";
import { UnauthorizedError } from "../../shared/errors.js";
import { sendMfaRequired } from "./auth.mappers.js";
import {
  MfaRequiredSchema,
  RefreshBodySchema,
  TokenRequestSchema,
  TokenResponseSchema,
} from "./auth.schemas.js";
import type { AuthService, TokenPair } from "./auth.service.js";
import {
  CookieRefreshHeadersSchema,
  clearRefreshCookie,
  presentedRefreshToken,
  TokenDeliveryHeadersSchema,
  tokenAnswer,
  wantsRefreshCookie,
} from "./browser-session.js";

export const authRoutes: FastifyPluginAsyncTypebox<{
  authService: AuthService;
  /** How long the browser keeps a refresh cookie (the refresh token's lifetime). */
  refreshCookieMaxAgeSeconds: number;
}> = async (app, { authService, refreshCookieMaxAgeSeconds }) => {
  /** A pair as the client asked for it: the refresh token in the body, or in the cookie. */
  const answer = (request: FastifyRequest, reply: FastifyReply, pair: TokenPair, inCookie: boolean) =>
    tokenAnswer(request, reply, pair, { inCookie, cookieMaxAgeSeconds: refreshCookieMaxAgeSeconds });

  // Only these routes take form bodies (the OAuth2 token request is a form); elsewhere a form
  // sent where JSON belongs is refused with 415 rather than read as one odd field.
  await app.register(fastifyFormbody, { bodyLimit: 16 * 1024 });
  answerNoStore(app);

  app.post(
    "/auth/token",
    {
      schema: {
        tags: ["auth"],
        operationId: "createToken",
        summary: "Log in (OAuth2 password-grant shape)",
        security: [],
        description:
          "A first-party login: `username` is the email or the username. A user with two-factor " +
          "authentication gets 403 `mfa_required` with an `mfa_token` instead of tokens: send it " +
          "with a code to POST /api/v1/auth/mfa/verify. Kept in the OAuth2 " +
          "password-grant form so the docs' Authorize button and OAuth2 clients work; no third " +
          "party is ever given users' passwords. Failed attempts are throttled per (account, client " +
          "address) and per client address (429 with Retry-After); failures on an account from many " +
          "addresses only slow guessing down and never refuse an address with no failures.",
        consumes: ["application/x-www-form-urlencoded"],
        headers: TokenDeliveryHeadersSchema,
        body: TokenRequestSchema,
        response: {
          200: TokenResponseSchema,
          400: OAuthProblemRef,
          401: OAuthProblemRef,
          // mfa_required with its mfa_token, or a plain problem (email_not_verified with REQUIRE_VERIFIED_EMAIL).
          403: Type.Union([MfaRequiredSchema, OAuthProblemRef]),
          415: OAuthProblemRef,
          422: OAuthProblemRef,
          429: OAuthProblemRef,
        },
        ...problemCodes({
          400: ["invalid_scope"],
          401: ["invalid_credentials"],
          403: ["mfa_required", "email_not_verified"],
          429: ["too_many_attempts"],
        }),
      },
      config: { oauth2Errors: true },
    },
    async (request, reply) => {
      const { username, password, scope } = request.body;
      const result = await authService.login(
        {
          login: username.trim(),
          password,
          ...(scope !== undefined ? { scope } : {}),
          address: request.ip,
          userAgent: request.headers["user-agent"],
        },
        securityLogFor(request),
      );
      if (result.kind === "second_factor") return sendMfaRequired(result, request, reply);
      return answer(request, reply, result.pair, wantsRefreshCookie(request));
    },
  );

  app.post(
    "/auth/refresh",
    {
      schema: {
        tags: ["auth"],
        operationId: "refreshToken",
        summary: "Exchange a refresh token for a new pair",
        security: [],
        description:
          "The presented token is spent. Presenting a spent token again revokes its whole session " +
          "(theft detection), its access tokens included — except the token spent last, presented " +
          "again within REFRESH_REUSE_LEEWAY_SECONDS of its rotation (a double refresh), which gets " +
          "another pair in the same session. No pair outlives the session's SESSION_MAX_DAYS. " +
          "Browser apps send no body token: the refresh cookie set by the token endpoint, with the " +
          "X-CSRF-Token header (403 `csrf_failed` without it), and get the new one as a cookie.",
        headers: CookieRefreshHeadersSchema,
        body: RefreshBodySchema,
        response: {
          200: TokenResponseSchema,
          401: OAuthProblemRef,
          403: OAuthProblemRef,
          415: OAuthProblemRef,
          422: OAuthProblemRef,
        },
        ...problemCodes({ 401: ["invalid_refresh_token"], 403: ["csrf_failed"] }),
      },
      config: { oauth2Errors: true },
    },
    async (request, reply) => {
      const presented = presentedRefreshToken(request, request.body.refresh_token);
      if (!presented) throw new UnauthorizedError("No refresh token", "invalid_refresh_token");
      const pair = await authService.refresh(presented.token, securityLogFor(request));
      return answer(request, reply, pair, presented.fromCookie);
    },
  );

  app.post(
    "/auth/logout",
    {
      schema: {
        tags: ["auth"],
        operationId: "logout",
        summary: "End the session a refresh token belongs to",
        security: [],
        description:
          "The session's refresh tokens and access tokens stop working at once on every instance, " +
          "and its live sockets close with 4401. Browser apps send the refresh cookie with the " +
          "X-CSRF-Token header instead of a body token; the cookies are cleared.",
        headers: CookieRefreshHeadersSchema,
        body: RefreshBodySchema,
        response: { 204: Type.Null(), 403: ProblemRef, 422: ProblemRef },
        ...problemCodes({ 403: ["csrf_failed"] }),
      },
    },
    async (request, reply) => {
      const presented = presentedRefreshToken(request, request.body.refresh_token);
      if (presented) await authService.logout(presented.token, securityLogFor(request));
      if (presented?.fromCookie) clearRefreshCookie(request, reply);
      return reply.code(204).send(null);
    },
  );
};
