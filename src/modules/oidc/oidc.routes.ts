import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { FastifyContextConfig, FastifyReply, FastifyRequest } from "fastify";
import { Type } from "typebox";
import { answerNoStore } from "../../http/no-store.js";
import { OAuthProblemRef, ProblemRef, problemCodes } from "../../http/openapi.js";
import { securityLogFor } from "../../http/security-log.js";
import { sendMfaRequired } from "../auth/auth.mappers.js";
import { principalOf, requireAuth } from "../auth/auth.plugin.js";
import { MfaRequiredSchema, TokenResponseSchema } from "../auth/auth.schemas.js";
import { TokenDeliveryHeadersSchema, tokenAnswer, wantsRefreshCookie } from "../auth/browser-session.js";
import {
  CallbackQuerySchema,
  ExchangeSchema,
  IdentityIdParamsSchema,
  IdentityListSchema,
  LinkStartSchema,
  ProviderParamsSchema,
  ProvidersSchema,
} from "./oidc.schemas.js";
import { type OidcService, SignInRefused } from "./oidc.service.js";

const BINDING_COOKIE = "kaira_oidc";

/**
 * A browser redirect's success is a 302, never a 2xx: the document states the refusals any
 * request can meet (400 invalid_host, 429 rate_limited) as its `default`, as the WebSocket
 * upgrade does, so generated clients and Redocly's rules see a complete operation.
 */
const withDefaultRefusal: FastifyContextConfig = {
  swaggerTransform: ({ schema, url }) => ({
    schema: {
      ...schema,
      response: {
        ...((schema as { response?: object }).response ?? {}),
        default: {
          description: "Refused before the redirect: 400 invalid_host, 429 rate_limited",
          content: { "application/problem+json": { schema: ProblemRef } },
        },
      },
    },
    url,
  }),
};
const COOKIE_PATH = "/api/v1/auth/oidc";

export const oidcRoutes: FastifyPluginAsyncTypebox<{
  oidcService: OidcService;
  returnUrl: string | undefined;
  secureCookie: boolean;
  refreshCookieMaxAgeSeconds: number;
}> = async (app, { oidcService, returnUrl, secureCookie, refreshCookieMaxAgeSeconds }) => {
  answerNoStore(app);

  // SameSite=Lax: the provider's redirect back is a top-level GET, which Lax lets through;
  // HttpOnly: no script needs it. It ties the flow to the browser that started it.
  const setBinding = (reply: FastifyReply, value: string, maxAge: number) =>
    reply.header(
      "set-cookie",
      `${BINDING_COOKIE}=${value}; Path=${COOKIE_PATH}; Max-Age=${maxAge}; HttpOnly; SameSite=Lax${secureCookie ? "; Secure" : ""}`,
    );
  const bindingOf = (request: FastifyRequest) =>
    /(?:^|;\s*)kaira_oidc=([A-Za-z0-9_-]{43})(?:;|$)/.exec(request.headers.cookie ?? "")?.[1];
  const backToClient = (params: Record<string, string>) => {
    const url = new URL(returnUrl as string);
    for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
    return url.toString();
  };

  app.get(
    "/auth/oidc/providers",
    {
      schema: {
        tags: ["auth"],
        operationId: "listSignInProviders",
        summary: "OpenID Connect providers one can sign in with",
        security: [],
        // Its only refusal is the one every route gives a Host outside TRUSTED_HOSTS.
        response: { 200: ProvidersSchema, 400: ProblemRef },
      },
    },
    async () => ({
      items: oidcService
        .providerNames()
        .map((name) => ({ name, start_url: `/api/v1/auth/oidc/${name}/start` })),
    }),
  );

  app.get(
    "/auth/oidc/:provider/start",
    {
      schema: {
        tags: ["auth"],
        operationId: "startOidcSignIn",
        summary: "Sign in with an OpenID Connect provider (browser navigation)",
        description:
          "Redirects the browser to the provider (authorization code flow with PKCE S256, `state` " +
          "and `nonce`, kept server-side for 10 minutes and usable once) and sets a short-lived " +
          "HttpOnly cookie that ties the flow to this browser. The provider sends the browser " +
          "back to the callback, which redirects to OIDC_RETURN_URL with `?code=` to exchange at " +
          "POST /auth/oidc/exchange, or `?error=`. Tokens never travel in a URL.",
        security: [],
        params: ProviderParamsSchema,
        response: {
          302: Type.Null({ description: "To the provider's authorization endpoint" }),
          404: ProblemRef,
          502: ProblemRef,
        },
        ...problemCodes({
          404: ["oidc_provider_not_found"],
          502: ["oidc_provider_error"],
          default: ["invalid_host", "rate_limited"],
        }),
      },
      config: withDefaultRefusal,
    },
    async (request, reply) => {
      const { url, binding, maxAgeSeconds } = await oidcService.start(request.params.provider);
      setBinding(reply, binding, maxAgeSeconds);
      return reply.redirect(url, 302);
    },
  );

  app.post(
    "/auth/oidc/:provider/link",
    {
      schema: {
        tags: ["auth"],
        operationId: "startOidcLink",
        summary: "Link a provider account to the caller's account",
        description:
          "For accounts the provider could not link by a verified email: returns the provider's " +
          "authorization URL for this browser (a binding cookie is set as for /start); after the " +
          "provider, the callback links that provider account to the caller.",
        security: requireAuth(),
        params: ProviderParamsSchema,
        response: { 200: LinkStartSchema, 404: ProblemRef, 502: ProblemRef },
        ...problemCodes({ 404: ["oidc_provider_not_found"], 502: ["oidc_provider_error"] }),
      },
    },
    async (request, reply) => {
      const { url, binding, maxAgeSeconds } = await oidcService.start(
        request.params.provider,
        principalOf(request).userId,
      );
      setBinding(reply, binding, maxAgeSeconds);
      return { authorization_url: url };
    },
  );

  app.get(
    "/auth/oidc/:provider/callback",
    {
      schema: {
        tags: ["auth"],
        operationId: "oidcCallback",
        summary: "Where the provider sends the browser back",
        description:
          "Always redirects to OIDC_RETURN_URL: with `?code=` (single use, 60 s) on success, or " +
          "with `?error=` — `invalid_state` (unknown, reused, expired or another browser's flow), " +
          "`issuer_mismatch`, `provider_denied`, `provider_error` (the code or ID token was refused: " +
          "signature, iss, aud, exp or nonce), `account_exists_link_required` (an account has this " +
          "email but the provider has not verified it: log in and link explicitly), " +
          "`verified_email_required`, `identity_linked_elsewhere`.",
        security: [],
        params: ProviderParamsSchema,
        querystring: CallbackQuerySchema,
        response: {
          302: Type.Null({ description: "To OIDC_RETURN_URL" }),
          404: ProblemRef,
          422: ProblemRef,
        },
        ...problemCodes({ 404: ["oidc_provider_not_found"], default: ["invalid_host", "rate_limited"] }),
      },
      config: withDefaultRefusal,
    },
    async (request, reply) => {
      reply.header(
        "set-cookie",
        `${BINDING_COOKIE}=; Path=${COOKIE_PATH}; Max-Age=0; HttpOnly; SameSite=Lax${secureCookie ? "; Secure" : ""}`,
      );
      try {
        const code = await oidcService.callback(
          request.params.provider,
          request.query,
          bindingOf(request),
          securityLogFor(request),
        );
        return reply.redirect(backToClient({ code }), 302);
      } catch (error) {
        if (error instanceof SignInRefused) return reply.redirect(backToClient({ error: error.reason }), 302);
        throw error;
      }
    },
  );

  app.post(
    "/auth/oidc/exchange",
    {
      schema: {
        tags: ["auth"],
        operationId: "exchangeOidcCode",
        summary: "Exchange the sign-in code for tokens",
        description:
          "The `code` OIDC_RETURN_URL received, once, within 60 s. Answers like POST /auth/token: the " +
          "token pair, or 403 `mfa_required` for a user with two-factor authentication (the " +
          "provider proved who signed in, Kaira's own second factor is still asked for). A browser " +
          "app sends `X-Refresh-Token-Delivery: cookie` here (and again at POST /auth/mfa/verify) " +
          "to get the refresh token as a cookie, as from the token endpoint.",
        security: [],
        headers: TokenDeliveryHeadersSchema,
        body: ExchangeSchema,
        response: {
          200: TokenResponseSchema,
          401: OAuthProblemRef,
          403: MfaRequiredSchema,
          422: OAuthProblemRef,
        },
        ...problemCodes({ 401: ["invalid_sign_in_code"], 403: ["mfa_required"] }),
      },
      config: { oauth2Errors: true },
    },
    async (request, reply) => {
      const result = await oidcService.exchange(
        request.body.code,
        { address: request.ip, userAgent: request.headers["user-agent"] },
        securityLogFor(request),
      );
      if (result.kind === "second_factor") return sendMfaRequired(result, request, reply);
      return tokenAnswer(request, reply, result.pair, {
        inCookie: wantsRefreshCookie(request),
        cookieMaxAgeSeconds: refreshCookieMaxAgeSeconds,
      });
    },
  );

  app.get(
    "/users/me/identities",
    {
      schema: {
        tags: ["users"],
        operationId: "listIdentities",
        summary: "The provider accounts linked to the caller",
        security: requireAuth(),
        response: { 200: IdentityListSchema },
      },
    },
    async (request) => ({
      items: (await oidcService.listIdentities(principalOf(request).userId)).map((identity) => ({
        id: identity.id,
        provider: identity.provider,
        email: identity.email,
        created_at: identity.createdAt.toISOString(),
        last_login_at: identity.lastLoginAt?.toISOString() ?? null,
      })),
    }),
  );

  app.delete(
    "/users/me/identities/:id",
    {
      schema: {
        tags: ["users"],
        operationId: "unlinkIdentity",
        summary: "Unlink a provider account",
        description:
          "Refused (409 `last_sign_in_method`) when it is the account's only way to sign in: set a " +
          "password or link another provider first. Another user's link is 404.",
        security: requireAuth(),
        params: IdentityIdParamsSchema,
        response: { 204: Type.Null(), 404: ProblemRef, 409: ProblemRef, 422: ProblemRef },
        ...problemCodes({ 404: ["identity_not_found"], 409: ["last_sign_in_method"] }),
      },
    },
    async (request, reply) => {
      await oidcService.unlink(principalOf(request).userId, request.params.id, securityLogFor(request));
      return reply.code(204).send(null);
    },
  );
};
