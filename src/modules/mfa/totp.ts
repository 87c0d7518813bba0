import { Secret, TOTP } from "otpauth";

// RFC 6238 as every authenticator app implements it: HMAC-SHA-1, 6 digits, 30 s steps.
const PERIOD_SECONDS = 30;
const DIGITS = 6;
/** Codes of the previous and next step are accepted too: clocks drift, people type slowly. */
const WINDOW = 1;
const ISSUER = "Kaira";

const totpFor = (secretBase32: string, label = "") =>
  new TOTP({
    issuer: ISSUER,
    label,
    algorithm: "SHA1",
    digits: DIGITS,
    period: PERIOD_SECONDS,
    secret: Secret.fromBase32(secretBase32),
  });

/** A new 160-bit secret (RFC 4226's recommended length), base32 as apps expect it. */
export function newTotpSecret(): string {
  return new Secret({ size: 20 }).base32;
}

/** The `otpauth://totp/...` URI an authenticator app reads (usually from a QR code). */
export function totpUri(secretBase32: string, accountName: string): string {
  return totpFor(secretBase32, accountName).toString();
}

/**
 * The time step `code` belongs to (within ±WINDOW of now), or undefined. The caller accepts a
 * step only once and only after the last accepted one; the server's clock is the only time
 * source (the client never says what time it is).
 */
export function matchingStep(secretBase32: string, code: string, now = Date.now()): number | undefined {
  if (!/^\d{6}$/.test(code)) return undefined;
  const delta = totpFor(secretBase32).validate({ token: code, timestamp: now, window: WINDOW });
  return delta === null ? undefined : Math.floor(now / 1000 / PERIOD_SECONDS) + delta;
}
