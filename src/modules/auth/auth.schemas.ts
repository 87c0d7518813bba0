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
