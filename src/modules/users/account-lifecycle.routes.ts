import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { ProblemRef, problemCodes } from "../../http/openapi.js";
import { securityLogFor } from "../../http/security-log.js";
import { principalOf, requireAuth } from "../auth/auth.plugin.js";
import {
  ACCEPTED_ANSWER,
  AcceptedSchema,
  DeleteMeSchema,
  EmailBodySchema,
  PasswordResetConfirmSchema,
  TokenBodySchema,
} from "./account-lifecycle.schemas.js";
import type { AccountLifecycleService } from "./account-lifecycle.service.js";

const TOKEN_ERRORS =
  "A token that is unknown, expired, already used or made for another purpose gets 400 `invalid_token` " +
  "(one answer for all four). Refused tokens are throttled per client address like failed logins " +
  "(429 with Retry-After).";

const MAIL_REQUEST =
  "Always 202 with the same body, in the same time, whether an account uses the address or not: " +
  "the lookup and the mail happen in a background job. Limited per client address " +
  "(`ACCOUNT_MAIL_PER_HOUR_PER_ADDRESS`, 429 with Retry-After) and per account address " +
  "(`ACCOUNT_MAIL_PER_HOUR_PER_ACCOUNT`: past it the answer is the same 202 but nothing is sent).";

export const accountLifecycleRoutes: FastifyPluginAsyncTypebox<{
  lifecycle: AccountLifecycleService;
}> = async (app, { lifecycle }) => {
  const context = (request: Parameters<typeof securityLogFor>[0]) => ({
    address: request.ip,
    log: securityLogFor(request),
  });

  app.post(
    "/auth/verify-email",
    {
      schema: {
        tags: ["auth"],
        operationId: "verifyEmail",
        summary: "Verify an email address with the mailed token",
        description: `Marks the account's email verified if it is still the address the link was sent to. ${TOKEN_ERRORS}`,
        security: [],
        body: TokenBodySchema,
        response: { 204: Type.Null(), 400: ProblemRef, 422: ProblemRef, 429: ProblemRef },
        ...problemCodes({ 400: ["invalid_token"], 429: ["too_many_attempts"] }),
      },
    },
    async (request, reply) => {
      await lifecycle.verifyEmail(request.body.token, context(request));
      return reply.code(204).send(null);
    },
  );

  app.post(
    "/auth/verify-email/resend",
    {
      schema: {
        tags: ["auth"],
        operationId: "resendVerificationEmail",
        summary: "Mail a new verification link",
        description:
          "By email address, without a token, because with REQUIRE_VERIFIED_EMAIL an unverified " +
          `user cannot log in. Only an active, unverified account gets a mail; the new link voids earlier ones. ${MAIL_REQUEST}`,
        security: [],
        body: EmailBodySchema,
        response: { 202: AcceptedSchema, 422: ProblemRef, 429: ProblemRef },
        ...problemCodes({ 429: ["too_many_requests"] }),
      },
    },
    async (request, reply) => {
      await lifecycle.resendVerification(request.body.email, context(request));
      return reply.code(202).send(ACCEPTED_ANSWER);
    },
  );

  app.post(
    "/auth/password-reset",
    {
      schema: {
        tags: ["auth"],
        operationId: "requestPasswordReset",
        summary: "Mail a password-reset link",
        description: `The link lives 30 minutes and voids earlier ones. ${MAIL_REQUEST}`,
        security: [],
        body: EmailBodySchema,
        response: { 202: AcceptedSchema, 422: ProblemRef, 429: ProblemRef },
        ...problemCodes({ 429: ["too_many_requests"] }),
      },
    },
    async (request, reply) => {
      await lifecycle.requestPasswordReset(request.body.email, context(request));
      return reply.code(202).send(ACCEPTED_ANSWER);
    },
  );

  app.post(
    "/auth/password-reset/confirm",
    {
      schema: {
        tags: ["auth"],
        operationId: "confirmPasswordReset",
        summary: "Set a new password with the mailed token",
        description:
          "The password policy applies (400 `weak_password`, and the link still works). On success every " +
          "session of the user ends at once on every instance — refresh tokens, access tokens and live " +
          `sockets (4401) — and a notice is mailed. ${TOKEN_ERRORS}`,
        security: [],
        body: PasswordResetConfirmSchema,
        response: { 204: Type.Null(), 400: ProblemRef, 422: ProblemRef, 429: ProblemRef },
        ...problemCodes({ 400: ["invalid_token", "weak_password"], 429: ["too_many_attempts"] }),
      },
    },
    async (request, reply) => {
      await lifecycle.confirmPasswordReset(request.body.token, request.body.password, context(request));
      return reply.code(204).send(null);
    },
  );

  app.post(
    "/auth/email-change/confirm",
    {
      schema: {
        tags: ["auth"],
        operationId: "confirmEmailChange",
        summary: "Confirm a new email address with the token mailed to it",
        description:
          "The change asked for with PATCH /users/me applies now, and the new address counts as verified. " +
          `409 \`email_taken\` if another account has the address by now. ${TOKEN_ERRORS}`,
        security: [],
        body: TokenBodySchema,
        response: { 204: Type.Null(), 400: ProblemRef, 409: ProblemRef, 422: ProblemRef, 429: ProblemRef },
        ...problemCodes({ 400: ["invalid_token"], 409: ["email_taken"], 429: ["too_many_attempts"] }),
      },
    },
    async (request, reply) => {
      await lifecycle.confirmEmailChange(request.body.token, context(request));
      return reply.code(204).send(null);
    },
  );

  app.post(
    "/auth/email-change/cancel",
    {
      schema: {
        tags: ["auth"],
        operationId: "cancelEmailChange",
        summary: "Cancel (or undo) an email change with the token mailed to the old address",
        description:
          "Pending changes are dropped. If the change was confirmed already, the old address is restored " +
          "and every session of the user ends (the account may be in someone else's hands: reset the " +
          `password next). The link works for 72 hours. ${TOKEN_ERRORS}`,
        security: [],
        body: TokenBodySchema,
        response: { 204: Type.Null(), 400: ProblemRef, 409: ProblemRef, 422: ProblemRef, 429: ProblemRef },
        ...problemCodes({ 400: ["invalid_token"], 409: ["email_taken"], 429: ["too_many_attempts"] }),
      },
    },
    async (request, reply) => {
      await lifecycle.cancelEmailChange(request.body.token, context(request));
      return reply.code(204).send(null);
    },
  );

  app.delete(
    "/users/me",
    {
      schema: {
        tags: ["users"],
        operationId: "deleteCurrentUser",
        summary: "Delete the caller's account",
        description:
          "Re-authentication first: `current_password`, or — with two-factor authentication on — a `code` " +
          "from the authenticator app (accepted once, as at sign-in) or a recovery code (spent). An account " +
          "without a password (made by an OpenID Connect sign-in) sends its `code` if it has MFA, and " +
          "otherwise `{}` from a session that signed in with the provider within the last 10 minutes " +
          "(400 `fresh_sign_in_required` from an older one: sign in again). Wrong passwords and codes are " +
          "throttled like logins (429 with Retry-After); a second factor locked by wrong codes in a row is " +
          "403 `mfa_locked`. The account is anonymised " +
          "(`deleted~<random>`, no email, no way to log in) and every session ends at once; its posts are " +
          "deleted (each announced as post.deleted) and its files removed by a background job. Its transfers " +
          "and ledger entries stay under the anonymised holder: money history is never deleted. The last " +
          "active admin cannot delete the account (409 `last_admin`); a conflicting concurrent change " +
          "answers 409 `deletion_conflict` (try again).",
        security: requireAuth(),
        body: DeleteMeSchema,
        response: {
          204: Type.Null(),
          400: ProblemRef,
          403: ProblemRef,
          409: ProblemRef,
          422: ProblemRef,
          429: ProblemRef,
        },
        ...problemCodes({
          400: [
            "current_password_required",
            "invalid_current_password",
            "mfa_code_required",
            "invalid_mfa_code",
            "mfa_not_enabled",
            "fresh_sign_in_required",
          ],
          403: ["mfa_locked"],
          409: ["last_admin", "deletion_conflict"],
          429: ["too_many_attempts"],
        }),
      },
    },
    async (request, reply) => {
      await lifecycle.deleteAccount(
        principalOf(request).userId,
        {
          currentPassword: request.body.current_password,
          code: request.body.code,
          sessionId: principalOf(request).sessionId,
        },
        context(request),
      );
      return reply.code(204).send(null);
    },
  );
};
