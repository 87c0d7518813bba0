import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { answerNoStore } from "../../http/no-store.js";
import { OAuthProblemRef, ProblemRef, problemCodes } from "../../http/openapi.js";
import { securityLogFor } from "../../http/security-log.js";
import { principalOf, requireAuth } from "../auth/auth.plugin.js";
import { TokenResponseSchema } from "../auth/auth.schemas.js";
import { TokenDeliveryHeadersSchema, tokenAnswer, wantsRefreshCookie } from "../auth/browser-session.js";
import {
  ConfirmSchema,
  DisableSchema,
  EnrolmentSecretSchema,
  EnrolmentStartSchema,
  MfaStatusSchema,
  RecoveryCodesSchema,
  UserIdParamsSchema,
  VerifySchema,
} from "./mfa.schemas.js";
import type { MfaService } from "./mfa.service.js";

export const mfaRoutes: FastifyPluginAsyncTypebox<{
  mfaService: MfaService;
  refreshCookieMaxAgeSeconds: number;
}> = async (app, { mfaService, refreshCookieMaxAgeSeconds }) => {
  answerNoStore(app);

  app.get(
    "/auth/mfa",
    {
      schema: {
        tags: ["auth"],
        operationId: "getMfaStatus",
        summary: "Whether two-factor authentication is on",
        security: requireAuth(),
        response: { 200: MfaStatusSchema },
      },
    },
    async (request) => {
      const status = await mfaService.status(principalOf(request).userId);
      return {
        enabled: status.enabled,
        pending: status.pending,
        recovery_codes_left: status.recoveryCodesLeft,
      };
    },
  );

  app.post(
    "/auth/mfa/totp/setup",
    {
      schema: {
        tags: ["auth"],
        operationId: "startTotpEnrolment",
        summary: "Start enrolling an authenticator app (TOTP)",
        description:
          "Needs `current_password` when the account has one. Returns a new secret (RFC 6238: " +
          "SHA-1, 6 digits, 30 s) and its otpauth:// URI, shown only in this answer and stored " +
          "encrypted. MFA is on only once POST /auth/mfa/totp/confirm gets a valid code; starting " +
          "again before that replaces the secret. 409 `mfa_already_enabled` when MFA is on.",
        security: requireAuth(),
        body: EnrolmentStartSchema,
        response: {
          200: EnrolmentSecretSchema,
          400: ProblemRef,
          409: ProblemRef,
          422: ProblemRef,
          429: ProblemRef,
        },
        ...problemCodes({
          400: ["current_password_required", "invalid_current_password"],
          409: ["mfa_already_enabled"],
          429: ["too_many_attempts"],
        }),
      },
    },
    async (request) => {
      const { secret, uri } = await mfaService.startEnrolment(
        principalOf(request).userId,
        request.body.current_password,
        request.ip,
        securityLogFor(request),
      );
      return { secret, otpauth_uri: uri };
    },
  );

  app.post(
    "/auth/mfa/totp/confirm",
    {
      schema: {
        tags: ["auth"],
        operationId: "confirmTotpEnrolment",
        summary: "Turn two-factor authentication on with a first code",
        description:
          "A valid code from the app turns MFA on and returns 10 single-use recovery codes, shown " +
          "only in this answer and stored hashed. Every other session of the user ends (this one " +
          "stays): they were opened with the password alone. A wrong code is 400 `invalid_mfa_code` and counts " +
          "towards the throttle (429 with Retry-After); 409 `mfa_not_pending` without an enrolment.",
        security: requireAuth(),
        body: ConfirmSchema,
        response: {
          200: RecoveryCodesSchema,
          400: ProblemRef,
          409: ProblemRef,
          422: ProblemRef,
          429: ProblemRef,
        },
        ...problemCodes({ 400: ["invalid_mfa_code"], 409: ["mfa_not_pending"], 429: ["too_many_attempts"] }),
      },
    },
    async (request) => ({
      recovery_codes: await mfaService.confirmEnrolment(
        principalOf(request).userId,
        request.body.code,
        request.ip,
        securityLogFor(request),
        principalOf(request).sessionId,
      ),
    }),
  );

  app.post(
    "/auth/mfa/verify",
    {
      schema: {
        tags: ["auth"],
        operationId: "verifyMfa",
        summary: "Finish a sign-in with a code",
        description:
          "Redeems the `mfa_token` of a 403 `mfa_required` answer with a code from the app, or a " +
          "recovery code, for the token pair (the same answer as POST /auth/token). Each code is " +
          "accepted once: a code of a time step at or before the last accepted one is refused, and " +
          "a recovery code is spent. Wrong codes are throttled like passwords (429 with " +
          "Retry-After), and an mfa_token dies after 5 wrong codes or 5 minutes, and works only " +
          "from the client address that logged in (IPv6: its /64). Wrong codes in a row are also " +
          "counted per account, from every address: from the 5th the account waits (30 s, " +
          "doubling, at most 15 minutes; 429) and at 100 the factor is locked (403 `mfa_locked`) " +
          "until a password reset or an admin's MFA reset; a correct code starts the count over. " +
          "Errors carry OAuth2's `error` (`invalid_grant` for a wrong code, a dead mfa_token or " +
          "a locked factor).",
        security: [],
        headers: TokenDeliveryHeadersSchema,
        body: VerifySchema,
        response: {
          200: TokenResponseSchema,
          401: OAuthProblemRef,
          403: OAuthProblemRef,
          415: OAuthProblemRef,
          422: OAuthProblemRef,
          429: OAuthProblemRef,
        },
        ...problemCodes({
          401: ["invalid_mfa_token", "invalid_mfa_code"],
          403: ["mfa_locked"],
          429: ["too_many_attempts"],
        }),
      },
      config: { oauth2Errors: true },
    },
    async (request, reply) =>
      // A browser app that asked the token endpoint for the refresh cookie asks here again.
      tokenAnswer(
        request,
        reply,
        await mfaService.verifySignIn(
          request.body.mfa_token,
          request.body.code,
          request.ip,
          securityLogFor(request),
        ),
        { inCookie: wantsRefreshCookie(request), cookieMaxAgeSeconds: refreshCookieMaxAgeSeconds },
      ),
  );

  app.post(
    "/auth/mfa/disable",
    {
      schema: {
        tags: ["auth"],
        operationId: "disableMfa",
        summary: "Turn two-factor authentication off",
        description:
          "Needs `current_password` (when the account has one) and a code or a recovery code. The " +
          "secret and the recovery codes are deleted, and every other session of the user ends (this " +
          "one stays). 409 `mfa_not_enabled` when MFA is off.",
        security: requireAuth(),
        body: DisableSchema,
        response: {
          204: Type.Null(),
          400: ProblemRef,
          403: ProblemRef,
          409: ProblemRef,
          422: ProblemRef,
          429: ProblemRef,
        },
        ...problemCodes({
          400: ["current_password_required", "invalid_current_password", "invalid_mfa_code"],
          403: ["mfa_locked"],
          409: ["mfa_not_enabled"],
          429: ["too_many_attempts"],
        }),
      },
    },
    async (request, reply) => {
      await mfaService.disable(
        principalOf(request).userId,
        { currentPassword: request.body.current_password, code: request.body.code },
        request.ip,
        securityLogFor(request),
        principalOf(request).sessionId,
      );
      return reply.code(204).send(null);
    },
  );

  app.delete(
    "/admin/users/:id/mfa",
    {
      schema: {
        tags: ["admin"],
        operationId: "resetUserMfa",
        summary: "Admin: remove a user's two-factor authentication",
        description:
          "For a user who lost their authenticator and recovery codes: the secret and recovery codes " +
          "are deleted, every session of the user ends, and the user signs in with the password " +
          "alone until they enrol again. Recorded as the security event `mfa.admin_reset` (who, " +
          "whom). 204 whether or not MFA was on; 404 for an unknown user. An admin's own MFA cannot " +
          "be reset here (403 `own_mfa_reset`): an access token alone must not remove a second " +
          "factor, so admins use POST /auth/mfa/disable (password and code) like everyone.",
        security: requireAuth("admin"),
        params: UserIdParamsSchema,
        response: { 204: Type.Null(), 403: ProblemRef, 404: ProblemRef, 422: ProblemRef },
        ...problemCodes({ 403: ["own_mfa_reset"], 404: ["user_not_found"] }),
      },
    },
    async (request, reply) => {
      await mfaService.adminReset(principalOf(request).userId, request.params.id, securityLogFor(request));
      return reply.code(204).send(null);
    },
  );
};
