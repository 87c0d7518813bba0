import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";
import type { SigningKeys } from "../auth/signing-keys.js";

const VERSION = "v1";
const INFO = "kaira/mfa-totp-secret/v1";

/**
 * Encrypts TOTP secrets at rest (AES-256-GCM) with a key derived from SECRET_KEY by HKDF, so
 * a copy of the database alone yields no codes. Each value names the key it was sealed with
 * (the signing key's fingerprint): after a rotation, SECRET_KEYS_PREVIOUS still opens older
 * values. A secret whose key is gone entirely cannot be opened; an admin resets that user's MFA.
 */
export function createSecretBox(keys: SigningKeys) {
  const derive = (secret: Uint8Array) => Buffer.from(hkdfSync("sha256", secret, Buffer.alloc(0), INFO, 32));
  const derived = new Map([...keys.verification].map(([kid, key]) => [kid, derive(key.secret)]));
  const current = keys.current.kid;

  return {
    seal(plaintext: string): string {
      const iv = randomBytes(12);
      const cipher = createCipheriv("aes-256-gcm", derived.get(current) as Buffer, iv);
      const sealed = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final(), cipher.getAuthTag()]);
      return [VERSION, current, iv.toString("base64url"), sealed.toString("base64url")].join(".");
    },

    /** The plaintext, or undefined when the value is not ours or its key is gone. */
    open(value: string): string | undefined {
      const [version, kid, iv, sealed] = value.split(".");
      const key = kid === undefined ? undefined : derived.get(kid);
      if (version !== VERSION || !key || !iv || !sealed) return undefined;
      try {
        const bytes = Buffer.from(sealed, "base64url");
        const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(iv, "base64url"));
        decipher.setAuthTag(bytes.subarray(bytes.length - 16));
        return Buffer.concat([
          decipher.update(bytes.subarray(0, bytes.length - 16)),
          decipher.final(),
        ]).toString("utf8");
      } catch {
        return undefined;
      }
    },
  };
}

export type SecretBox = ReturnType<typeof createSecretBox>;
