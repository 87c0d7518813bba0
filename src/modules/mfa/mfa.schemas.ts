import { Type } from "typebox";

const Code = Type.String({
  minLength: 6,
  maxLength: 64,
  description: "A 6-digit code from the authenticator app, or one of the recovery codes",
  examples: ["492039"],
});
const CurrentPassword = Type.String({
  minLength: 1,
  maxLength: 1024,
  description: "Required when the account has a password (re-authentication before changing a factor)",
  examples: ["SecurePass123"],
});

export const MfaStatusSchema = Type.Object(
  {
    enabled: Type.Boolean(),
    pending: Type.Boolean({ description: "An enrolment was started and awaits its first code" }),
    recovery_codes_left: Type.Integer({ minimum: 0 }),
  },
  { title: "MfaStatus", examples: [{ enabled: true, pending: false, recovery_codes_left: 9 }] },
);

export const EnrolmentStartSchema = Type.Object(
  { current_password: Type.Optional(CurrentPassword) },
  {
    additionalProperties: false,
    title: "TotpSetupRequest",
    examples: [{ current_password: "SecurePass123" }],
  },
);

export const EnrolmentSecretSchema = Type.Object(
  {
    secret: Type.String({ description: "Base32 secret for manual entry; never shown again" }),
    otpauth_uri: Type.String({
      description: "The same secret as an otpauth:// URI (render it as a QR code)",
    }),
  },
  {
    title: "TotpSetup",
    examples: [
      {
        secret: "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
        otpauth_uri:
          "otpauth://totp/Kaira:john?issuer=Kaira&secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&algorithm=SHA1&digits=6&period=30",
      },
    ],
  },
);

export const ConfirmSchema = Type.Object(
  { code: Type.String({ minLength: 6, maxLength: 16, examples: ["492039"] }) },
  { additionalProperties: false, title: "TotpConfirmRequest", examples: [{ code: "492039" }] },
);

export const RecoveryCodesSchema = Type.Object(
  {
    recovery_codes: Type.Array(Type.String(), {
      description: "10 single-use codes, each accepted once in place of a code; shown only now",
    }),
  },
  {
    title: "RecoveryCodes",
    examples: [
      {
        recovery_codes: ["k3m7qa-x2bd4e-ptw5zc-h6nr2y", "a7c4vd-m2k5xe-q3zr7t-b6wn4p", "…eight more…"],
      },
    ],
  },
);

export const VerifySchema = Type.Object(
  {
    mfa_token: Type.String({ minLength: 1, maxLength: 200, description: "From the 403 mfa_required answer" }),
    code: Code,
  },
  {
    additionalProperties: false,
    title: "MfaVerifyRequest",
    examples: [
      { mfa_token: "Zk9yYW5kb20tMjU2LWJpdC10b2tlbi1zZWVuLW9uY2U", code: "492039" },
      { mfa_token: "Zk9yYW5kb20tMjU2LWJpdC10b2tlbi1zZWVuLW9uY2U", code: "k3m7qa-x2bd4e-ptw5zc-h6nr2y" },
    ],
  },
);

export const DisableSchema = Type.Object(
  { current_password: Type.Optional(CurrentPassword), code: Code },
  {
    additionalProperties: false,
    title: "MfaDisableRequest",
    examples: [{ current_password: "SecurePass123", code: "492039" }],
  },
);

export const UserIdParamsSchema = Type.Object(
  { id: Type.Integer({ minimum: 1, maximum: 2_147_483_647, examples: [42] }) },
  { additionalProperties: false },
);
