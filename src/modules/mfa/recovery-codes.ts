import { createHash, randomBytes } from "node:crypto";

export const RECOVERY_CODE_COUNT = 10;
const ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"; // RFC 4648 base32, lower case
const GROUPS = 4;
const GROUP_LENGTH = 6;

/**
 * Recovery codes: 24 base32 characters (120 random bits, above ASVS 6.5.2's 112, so a plain
 * SHA-256 suffices to store them), shown in groups of six for reading aloud and typing.
 */
export function newRecoveryCodes(): string[] {
  return Array.from({ length: RECOVERY_CODE_COUNT }, () => {
    // 32 symbols: each byte's low five bits pick one uniformly.
    const chars = [...randomBytes(GROUPS * GROUP_LENGTH)].map((byte) => ALPHABET[byte & 31]).join("");
    return chars.match(new RegExp(`.{${GROUP_LENGTH}}`, "g"))?.join("-") ?? chars;
  });
}

/** The canonical form of what a user typed: case, spaces and dashes do not matter. */
export function normalizeRecoveryCode(input: string): string | undefined {
  const code = input.toLowerCase().replace(/[\s-]/g, "");
  return new RegExp(`^[a-z2-7]{${GROUPS * GROUP_LENGTH}}$`).test(code) ? code : undefined;
}

export const hashRecoveryCode = (normalized: string) => createHash("sha256").update(normalized).digest("hex");
