import { describe, expect, it } from "vitest";
import { matchingStep, newTotpSecret, totpUri } from "../../src/modules/mfa/totp.js";
import { base32Decode, codeFor, totp } from "../helpers/totp.js";

// RFC 6238 Appendix B: the SHA-1 seed is the ASCII string "12345678901234567890".
const RFC_SEED = Buffer.from("12345678901234567890", "ascii");
const RFC_SHA1_VECTORS: [number, string][] = [
  [59, "94287082"],
  [1111111109, "07081804"],
  [1111111111, "14050471"],
  [1234567890, "89005924"],
  [2000000000, "69279037"],
  [20000000000, "65353130"],
];
// The same seed in base32, as the server stores it.
const RFC_SEED_BASE32 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

describe("the test's own RFC 6238 implementation", () => {
  it.each(RFC_SHA1_VECTORS)("gives the RFC's SHA-1 code at T=%i", (time, expected) => {
    expect(totp(RFC_SEED, time, 8)).toBe(expected);
  });
  it("decodes base32 as RFC 4648 does", () => {
    expect(base32Decode(RFC_SEED_BASE32).equals(RFC_SEED)).toBe(true);
  });
});

describe("the server's TOTP", () => {
  it.each(RFC_SHA1_VECTORS)(
    "accepts the RFC's code (6 digits) at T=%i and names its step",
    (time, expected) => {
      const code = expected.slice(-6);
      expect(matchingStep(RFC_SEED_BASE32, code, time * 1000)).toBe(Math.floor(time / 30));
    },
  );

  it("accepts one step of drift either way, not two", () => {
    const secret = newTotpSecret();
    const now = Date.now();
    const step = Math.floor(now / 30_000);
    expect(matchingStep(secret, codeFor(secret, -1, now), now)).toBe(step - 1);
    expect(matchingStep(secret, codeFor(secret, 1, now), now)).toBe(step + 1);
    expect(matchingStep(secret, codeFor(secret, -2, now), now)).toBeUndefined();
    expect(matchingStep(secret, codeFor(secret, 2, now), now)).toBeUndefined();
  });

  it("refuses anything but six digits", () => {
    const secret = newTotpSecret();
    for (const bad of ["", "12345", "1234567", "abcdef", " 12345"])
      expect(matchingStep(secret, bad)).toBeUndefined();
  });

  it("makes 160-bit secrets and a URI apps read (SHA1, 6 digits, 30 s)", () => {
    const secret = newTotpSecret();
    expect(base32Decode(secret)).toHaveLength(20);
    const uri = new URL(totpUri(secret, "john"));
    expect(uri.protocol).toBe("otpauth:");
    expect(uri.searchParams.get("secret")).toBe(secret);
    expect(uri.searchParams.get("algorithm")).toBe("SHA1");
    expect(uri.searchParams.get("digits")).toBe("6");
    expect(uri.searchParams.get("period")).toBe("30");
    expect(uri.searchParams.get("issuer")).toBe("Kaira");
  });
});
