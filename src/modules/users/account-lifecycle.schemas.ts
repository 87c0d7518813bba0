import { Type } from "typebox";

// Tokens are 43 base64url characters; the bound only keeps junk cheap to refuse.
const Token = Type.String({
  minLength: 1,
  maxLength: 128,
  description: "The token from the mailed link (the part after `#token=`)",
  examples: ["q3Jd0dX1mQ8cVY0pQ2Hq6a7m9bKJp8bHf0VvXr3yZ1E"],
});
const Email = Type.String({ format: "email", maxLength: 320, examples: ["john@example.com"] });

export const TokenBodySchema = Type.Object(
  { token: Token },
  {
    additionalProperties: false,
    title: "AccountTokenRequest",
    examples: [{ token: "q3Jd0dX1mQ8cVY0pQ2Hq6a7m9bKJp8bHf0VvXr3yZ1E" }],
  },
);

export const EmailBodySchema = Type.Object(
  { email: Email },
  { additionalProperties: false, title: "AccountEmailRequest", examples: [{ email: "john@example.com" }] },
);

export const PasswordResetConfirmSchema = Type.Object(
  {
    token: Token,
    password: Type.String({ minLength: 8, maxLength: 128, examples: ["NewSecurePass456"] }),
  },
  {
    additionalProperties: false,
    title: "PasswordResetConfirm",
    examples: [{ token: "q3Jd0dX1mQ8cVY0pQ2Hq6a7m9bKJp8bHf0VvXr3yZ1E", password: "NewSecurePass456" }],
  },
);

/** The one answer of the public mail-sending endpoints, whatever the address. */
export const ACCEPTED_ANSWER = {
  status: "accepted",
  detail: "If an account uses this address and needs it, a message is on its way.",
} as const;

export const AcceptedSchema = Type.Object(
  { status: Type.Literal("accepted"), detail: Type.String() },
  { title: "Accepted", examples: [ACCEPTED_ANSWER] },
);

export const DeleteMeSchema = Type.Object(
  {
    current_password: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 128,
        description: "The account's password",
        examples: ["SecurePass123"],
      }),
    ),
    code: Type.Optional(
      Type.String({
        minLength: 6,
        maxLength: 64,
        description:
          "With two-factor authentication on, instead of the password: a code from the authenticator " +
          "app (accepted once) or a recovery code (spent)",
        examples: ["492039"],
      }),
    ),
  },
  {
    additionalProperties: false,
    title: "AccountDeletion",
    examples: [{ current_password: "SecurePass123" }, { code: "492039" }, {}],
  },
);
