import { expect, it } from "vitest";
import { createArgon2Hasher } from "../../src/modules/auth/password-hasher.js";

it("verifies exactly the password it hashed, and never a malformed hash", async () => {
  const hasher = createArgon2Hasher();
  const password = `${"p".repeat(127)}Q`;
  const hash = await hasher.hash(password);
  expect(await hasher.verify(hash, password)).toBe(true);
  expect(await hasher.verify(hash, password.slice(0, -1))).toBe(false);
  expect(await hasher.verify(hash, password.toLowerCase())).toBe(false);
  expect(await hasher.verify("not-a-hash", password)).toBe(false);
});
