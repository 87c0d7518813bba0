import { createHash, randomBytes } from "node:crypto";
import type { Cache } from "../../platform/cache/index.js";
import type { Scope } from "./scopes.js";

/** A first factor that passed, waiting for the second: what `mfa_token` stands for. */
export interface PendingSignIn {
  userId: number;
  scopes: Scope[];
  /** The user's token version at the first factor: a password change since voids the sign-in. */
  tokenVersion: number;
  address: string;
  userAgent: string | null;
  /** How the first factor was proven ("password", "oidc:<provider>"), for the security log. */
  method: string;
}

/** Long enough to open an authenticator app; short enough that a leaked token soon dies. */
export const PENDING_SIGN_IN_TTL_SECONDS = 300;
/** Wrong codes one mfa_token may take before it is void (the throttle counts them too). */
const MAX_ATTEMPTS = 5;

const sha256 = (value: string) => createHash("sha256").update(value).digest("hex");
const key = (token: string) => `auth:pending-sign-in:${sha256(token)}`;

/**
 * Pending sign-ins live in the cache port (Redis when configured, so any instance can finish
 * one) under a hash of their random 256-bit token, never the token itself. Finishing one
 * claims it with setIfAbsent: of two requests racing with the same token, one wins.
 */
export function createPendingSignIns(cache: Cache) {
  return {
    async create(pending: PendingSignIn): Promise<{ token: string; expiresIn: number }> {
      const token = randomBytes(32).toString("base64url");
      await cache.set(key(token), JSON.stringify(pending), PENDING_SIGN_IN_TTL_SECONDS * 1000);
      return { token, expiresIn: PENDING_SIGN_IN_TTL_SECONDS };
    },

    async find(token: string): Promise<PendingSignIn | undefined> {
      if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return undefined;
      const [value, claimed] = await Promise.all([cache.get(key(token)), cache.get(`${key(token)}:claimed`)]);
      return value === undefined || claimed !== undefined ? undefined : (JSON.parse(value) as PendingSignIn);
    },

    /** Counts a wrong code; past MAX_ATTEMPTS the token is void. */
    async recordFailure(token: string): Promise<void> {
      const attempts = await cache.increment(`${key(token)}:attempts`, PENDING_SIGN_IN_TTL_SECONDS * 1000);
      if (attempts >= MAX_ATTEMPTS) await cache.delete(key(token));
    },

    /** True for the one caller that finishes the sign-in; the token is spent either way. */
    async claim(token: string): Promise<boolean> {
      const won = await cache.setIfAbsent(`${key(token)}:claimed`, "1", PENDING_SIGN_IN_TTL_SECONDS * 1000);
      await cache.delete(key(token));
      return won;
    },
  };
}

export type PendingSignIns = ReturnType<typeof createPendingSignIns>;
