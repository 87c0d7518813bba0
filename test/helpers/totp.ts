import { createHmac } from "node:crypto";

/**
 * RFC 6238 TOTP written from the RFC with node:crypto alone, so tests check the server's
 * codes against an implementation that shares no code with it.
 */
export function base32Decode(input: string): Buffer {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const char of input.replace(/=+$/, "").toUpperCase()) {
    const index = alphabet.indexOf(char);
    if (index < 0) throw new Error(`not base32: ${char}`);
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** RFC 4226 HOTP (dynamic truncation) over an 8-byte big-endian counter. */
export function hotp(key: Buffer, counter: number, digits = 6, algorithm = "sha1"): string {
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac(algorithm, key).update(message).digest();
  const offset = (mac[mac.length - 1] as number) & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 10 ** digits).padStart(digits, "0");
}

/** The TOTP code of `unixSeconds` (T0 = 0, X = 30 s). */
export function totp(key: Buffer, unixSeconds: number, digits = 6, algorithm = "sha1"): string {
  return hotp(key, Math.floor(unixSeconds / 30), digits, algorithm);
}

/** The code an authenticator app shows now (or `offsetSteps` steps away) for a base32 secret. */
export function codeFor(secretBase32: string, offsetSteps = 0, now = Date.now()): string {
  return totp(base32Decode(secretBase32), Math.floor(now / 1000) + offsetSteps * 30);
}
