import { hash, verify } from "@node-rs/argon2";
import bcrypt from "bcryptjs";

/**
 * False for an account made by an OpenID Connect sign-in that never set a password: its
 * stored hash is empty, and no password may ever sign it in.
 */
export const hasPassword = (account: { passwordHash: string } | undefined): boolean =>
  account !== undefined && account.passwordHash !== "";

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  verify(hash: string, password: string): Promise<boolean>;
  /** True for hashes in an older scheme or weaker parameters: rehash after a successful login. */
  needsRehash(hash: string): boolean;
}

/**
 * argon2id at OWASP's recommended minimum (19 MiB, 2 passes, 1 lane). @node-rs/argon2 ships
 * prebuilt binaries for every platform (no compiler needed at install) and hashes on its own
 * worker threads, so a login never blocks the event loop.
 */
export const ARGON2_PARAMETERS = {
  algorithm: 2, // Algorithm.Argon2id; the package declares it as a const enum, unusable across modules
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
} as const;

const CURRENT_PREFIX = `$argon2id$v=19$m=${ARGON2_PARAMETERS.memoryCost},t=${ARGON2_PARAMETERS.timeCost},p=${ARGON2_PARAMETERS.parallelism}$`;
// Hashes from the FastAPI system (passlib bcrypt) are accepted and upgraded on next login.
const BCRYPT = /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/;

export function createArgon2Hasher(): PasswordHasher {
  return {
    hash: (password) => hash(password, ARGON2_PARAMETERS),
    async verify(storedHash, password) {
      try {
        // bcryptjs runs its rounds asynchronously in small slices, so it does not block either.
        if (BCRYPT.test(storedHash)) return await bcrypt.compare(password, storedHash);
        return await verify(storedHash, password);
      } catch {
        return false; // a malformed stored hash never authenticates
      }
    },
    needsRehash: (storedHash) => !storedHash.startsWith(CURRENT_PREFIX),
  };
}
