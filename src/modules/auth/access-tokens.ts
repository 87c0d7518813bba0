import { randomUUID } from "node:crypto";
import { errors as joseErrors, jwtVerify, SignJWT } from "jose";
import type { AuthConfig } from "../../config.js";
import type { Scope } from "./scopes.js";
import type { SigningKeys } from "./signing-keys.js";

export interface AccessTokenClaims {
  userId: number;
  scopes: string[];
  /** The user's token version when issued; a bump revokes the token. */
  version: number;
  /** The session (refresh-token family) this token belongs to. */
  sessionId: string;
  expiresAt: number;
}

// JWS compact serialization only: three base64url parts. Anything else (JSON
// serialization, quotes, braces, a refresh token) is refused before parsing.
const COMPACT_JWS = /^[A-Za-z0-9_-]{2,2048}\.[A-Za-z0-9_-]{2,4096}\.[A-Za-z0-9_-]{2,512}$/;
const ACCESS_TOKEN_TYPE = "at+jwt";
export const ACCESS_TOKEN_CLOCK_TOLERANCE_SECONDS = 30;
const CLOCK_TOLERANCE_SECONDS = ACCESS_TOKEN_CLOCK_TOLERANCE_SECONDS;

export class InvalidTokenError extends Error {}

// Verified tokens are remembered (by their full text) until they expire, so a client's
// repeated requests skip the HMAC. Revocation is unaffected: the token version is still
// checked on every request by the caller.
const VERIFIED_CACHE_SIZE = 10_000;

export function createAccessTokens(
  keys: SigningKeys,
  config: Pick<AuthConfig, "issuer" | "audience" | "accessTokenTtlSeconds">,
) {
  const verified = new Map<string, AccessTokenClaims>();

  function remember(token: string, claims: AccessTokenClaims) {
    if (verified.size >= VERIFIED_CACHE_SIZE) {
      const oldest = verified.keys().next().value;
      if (oldest !== undefined) verified.delete(oldest);
    }
    verified.set(token, claims);
  }

  return {
    async issue(input: {
      userId: number;
      scopes: Scope[];
      version: number;
      sessionId: string;
      /** Shorter than the configured lifetime when the session ends sooner. */
      ttlSeconds?: number;
    }): Promise<string> {
      return new SignJWT({ scope: input.scopes.join(" "), ver: input.version, sid: input.sessionId })
        .setProtectedHeader({ alg: "HS256", typ: ACCESS_TOKEN_TYPE, kid: keys.current.kid })
        .setSubject(String(input.userId))
        .setIssuer(config.issuer)
        .setAudience(config.audience)
        .setIssuedAt()
        .setJti(randomUUID())
        .setExpirationTime(`${input.ttlSeconds ?? config.accessTokenTtlSeconds}s`)
        .sign(keys.current.secret);
    },

    /**
     * Verifies with a pinned algorithm (HS256 only — `none`, RS/ES and key confusion fail),
     * a key chosen by `kid` among configured keys only (never fetched: `jku`/`x5u` are
     * ignored), and the issuer, audience, type and expiry this service issues.
     */
    async verify(token: string): Promise<AccessTokenClaims> {
      const known = verified.get(token);
      if (known && known.expiresAt > Date.now() / 1000 - CLOCK_TOLERANCE_SECONDS) return known;
      if (known) verified.delete(token);
      if (!COMPACT_JWS.test(token)) throw new InvalidTokenError("malformed token");
      try {
        const { payload } = await jwtVerify(
          token,
          (header) => {
            const key = typeof header.kid === "string" ? keys.verification.get(header.kid) : undefined;
            if (!key) throw new InvalidTokenError("unknown key");
            return key.secret;
          },
          {
            algorithms: ["HS256"],
            issuer: config.issuer,
            audience: config.audience,
            typ: ACCESS_TOKEN_TYPE,
            requiredClaims: ["sub", "exp", "iat", "ver", "sid"],
            clockTolerance: CLOCK_TOLERANCE_SECONDS,
          },
        );
        const userId = Number(payload.sub);
        if (!Number.isSafeInteger(userId) || userId < 1) throw new InvalidTokenError("bad subject");
        if (typeof payload.ver !== "number" || typeof payload.sid !== "string")
          throw new InvalidTokenError("bad claims");
        const claims = {
          userId,
          scopes: typeof payload.scope === "string" ? payload.scope.split(" ").filter(Boolean) : [],
          version: payload.ver,
          sessionId: payload.sid,
          expiresAt: payload.exp as number,
        };
        remember(token, claims);
        return claims;
      } catch (error) {
        if (error instanceof InvalidTokenError) throw error;
        if (error instanceof joseErrors.JOSEError) throw new InvalidTokenError(error.code);
        throw new InvalidTokenError("invalid token");
      }
    },
  };
}

export type AccessTokens = ReturnType<typeof createAccessTokens>;
