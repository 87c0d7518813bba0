import type { FastifyReply, FastifyRequest } from "fastify";
import { problem } from "../../http/problem.js";
import type { SignInResult, TokenPair } from "./auth.service.js";

/** A token pair as OAuth2 clients expect it. */
export const toTokenResponse = (pair: TokenPair) => ({
  access_token: pair.accessToken,
  token_type: "bearer" as const,
  expires_in: pair.expiresIn,
  refresh_token: pair.refreshToken,
  scope: pair.scopes.join(" "),
});

const MFA_REQUIRED_DETAIL = "Two-factor authentication required: send the mfa_token with a code";

/**
 * The 403 `mfa_required` answer (the shape Auth0 and OAuth2 clients that handle
 * MFA know: OAuth2's `error` plus the `mfa_token` that the second factor redeems), as
 * problem+json like every other error of the token endpoint.
 */
export function sendMfaRequired(
  result: Extract<SignInResult, { kind: "second_factor" }>,
  request: FastifyRequest,
  reply: FastifyReply,
) {
  return reply
    .code(403)
    .type("application/problem+json; charset=utf-8")
    .send({
      ...problem(403, "mfa_required", MFA_REQUIRED_DETAIL, request.id),
      error: "mfa_required",
      error_description: MFA_REQUIRED_DETAIL,
      mfa_token: result.mfaToken,
      expires_in: result.expiresIn,
    });
}
