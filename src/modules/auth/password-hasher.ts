import { hash, verify } from "@node-rs/argon2";

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  verify(hash: string, password: string): Promise<boolean>;
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

export function createArgon2Hasher(): PasswordHasher {
  return {
    hash: (password) => hash(password, ARGON2_PARAMETERS),
    async verify(storedHash, password) {
      try {
        return await verify(storedHash, password);
      } catch {
        return false; // a malformed stored hash never authenticates
      }
    },
  };
}
