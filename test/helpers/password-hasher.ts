import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { PasswordHasher } from "../../src/modules/auth/password-hasher.js";

const PREFIX = "$test-sha256$";

const digest = (salt: string, password: string) =>
  createHash("sha256").update(salt).update(password).digest("hex");

/**
 * A hasher for tests: salted SHA-256, microseconds instead of argon2id's tens of
 * milliseconds per sign-up and login. Never used outside tests: the prefix makes its hashes
 * recognisable, and it refuses (and asks to rehash) every hash it did not make. Real argon2id
 * stays in the hasher's own tests, in the tests that assert the stored format, and in every
 * test that starts a real process (test/e2e).
 */
export function createTestPasswordHasher(): PasswordHasher {
  return {
    async hash(password) {
      const salt = randomBytes(8).toString("hex");
      return `${PREFIX}${salt}$${digest(salt, password)}`;
    },
    async verify(storedHash, password) {
      if (!storedHash.startsWith(PREFIX)) return false;
      const [salt, expected] = storedHash.slice(PREFIX.length).split("$");
      if (salt === undefined || expected === undefined) return false;
      const actual = Buffer.from(digest(salt, password), "hex");
      const wanted = Buffer.from(expected, "hex");
      return actual.length === wanted.length && timingSafeEqual(actual, wanted);
    },
    needsRehash: (storedHash) => !storedHash.startsWith(PREFIX),
  };
}
