import { Type } from "typebox";

export const ProviderParamsSchema = Type.Object(
  { provider: Type.String({ minLength: 1, maxLength: 32, examples: ["google"] }) },
  { additionalProperties: false },
);

export const CallbackQuerySchema = Type.Object(
  {
    code: Type.Optional(Type.String({ maxLength: 2048 })),
    state: Type.Optional(Type.String({ maxLength: 128 })),
    iss: Type.Optional(Type.String({ maxLength: 2048 })),
    error: Type.Optional(Type.String({ maxLength: 256 })),
    error_description: Type.Optional(Type.String({ maxLength: 2048 })),
    session_state: Type.Optional(Type.String({ maxLength: 2048 })),
    scope: Type.Optional(Type.String({ maxLength: 2048 })),
    authuser: Type.Optional(Type.String({ maxLength: 64 })),
    prompt: Type.Optional(Type.String({ maxLength: 64 })),
    hd: Type.Optional(Type.String({ maxLength: 256 })),
  },
  { additionalProperties: false },
);

export const ExchangeSchema = Type.Object(
  { code: Type.String({ minLength: 1, maxLength: 128, description: "The `code` OIDC_RETURN_URL received" }) },
  {
    additionalProperties: false,
    title: "SignInCodeExchange",
    examples: [{ code: "mQ3o9c0D1bq7s5Rk2yJx8w4VnT6pLzA0eHfGiUjKlMn" }],
  },
);

export const ProvidersSchema = Type.Object(
  { items: Type.Array(Type.Object({ name: Type.String(), start_url: Type.String() })) },
  {
    title: "SignInProviders",
    examples: [{ items: [{ name: "google", start_url: "/api/v1/auth/oidc/google/start" }] }],
  },
);

export const LinkStartSchema = Type.Object(
  {
    authorization_url: Type.String({
      description: "Send the browser here (the same browser that made this request)",
    }),
  },
  {
    title: "IdentityLinkStart",
    examples: [
      { authorization_url: "https://accounts.example.com/authorize?response_type=code&client_id=kaira&…" },
    ],
  },
);

export const IdentitySchema = Type.Object(
  {
    id: Type.Integer(),
    provider: Type.String(),
    email: Type.Union([Type.String(), Type.Null()], {
      description: "As the provider gave it at the last sign-in",
    }),
    created_at: Type.String({ format: "date-time" }),
    last_login_at: Type.Union([Type.String({ format: "date-time" }), Type.Null()]),
  },
  { title: "Identity" },
);

export const IdentityListSchema = Type.Object(
  { items: Type.Array(IdentitySchema) },
  {
    title: "IdentityList",
    examples: [
      {
        items: [
          {
            id: 3,
            provider: "google",
            email: "john@example.com",
            created_at: "2026-11-30T09:12:44.120Z",
            last_login_at: "2026-11-30T10:02:01.503Z",
          },
        ],
      },
    ],
  },
);

export const IdentityIdParamsSchema = Type.Object(
  { id: Type.Integer({ minimum: 1, maximum: 2_147_483_647, examples: [3] }) },
  { additionalProperties: false },
);
