import { Type } from "typebox";

/** The OAuth2 password-grant form; `username` is the email or the username. */
export const TokenRequestSchema = Type.Object(
  {
    grant_type: Type.Optional(Type.Literal("password")),
    username: Type.String({ minLength: 1, maxLength: 320 }),
    password: Type.String({ minLength: 1, maxLength: 1024 }),
    scope: Type.Optional(
      Type.String({ maxLength: 200, description: "Space-separated; omit for all your role allows" }),
    ),
    client_id: Type.Optional(Type.String({ maxLength: 200 })),
    client_secret: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);

export const TokenResponseSchema = Type.Object(
  {
    access_token: Type.String(),
    token_type: Type.Literal("bearer"),
    expires_in: Type.Integer({ description: "Seconds the access token lives" }),
    refresh_token: Type.Optional(
      Type.String({
        description:
          "Single use: each refresh returns a new one. Absent when it was delivered as a cookie (X-Refresh-Token-Delivery: cookie)",
      }),
    ),
    scope: Type.String({ description: "Space-separated scopes granted" }),
  },
  { title: "TokenResponse" },
);

export const RefreshBodySchema = Type.Object(
  {
    refresh_token: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 200,
        description: "Required unless the refresh cookie is sent (browser apps)",
      }),
    ),
  },
  { additionalProperties: false, title: "RefreshRequest" },
);

/** The token endpoint's answer for a user with two-factor authentication. */
export const MfaRequiredSchema = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Literal(403),
    detail: Type.String(),
    code: Type.Literal("mfa_required"),
    request_id: Type.String(),
    error: Type.Literal("mfa_required"),
    error_description: Type.String(),
    mfa_token: Type.String({
      description: "Single use; redeem it with a code at POST /api/v1/auth/mfa/verify",
    }),
    expires_in: Type.Integer({ description: "Seconds the mfa_token stays valid" }),
  },
  {
    title: "MfaRequired",
    examples: [
      {
        type: "about:blank",
        title: "Forbidden",
        status: 403,
        detail: "Two-factor authentication required: send the mfa_token with a code",
        code: "mfa_required",
        request_id: "4f7c1d2e9a8b",
        error: "mfa_required",
        error_description: "Two-factor authentication required: send the mfa_token with a code",
        mfa_token: "Zk9yYW5kb20tMjU2LWJpdC10b2tlbi1zZWVuLW9uY2U",
        expires_in: 300,
      },
    ],
  },
);
