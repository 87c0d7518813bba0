import type { Cache } from "../../platform/cache/index.js";
import type { PubSub } from "../../platform/pubsub/index.js";
import { retryInBackground } from "../../shared/timeouts.js";

/** Told to every instance when sessions end, so each can close the sockets they opened. */
export const SESSION_REVOCATIONS_CHANNEL = "auth.sessions.revoked";

export interface RevokedSessions {
  userId: number;
  /** The sessions (refresh-token families, the `sid` claim) that ended. */
  sessionIds: string[];
  /**
   * Every session of the user ended (password change, deactivation, role change): the token
   * version was bumped, so even sessions not listed here lost their access tokens.
   */
  allSessions: boolean;
}

const key = (sessionId: string) => `auth:revoked-session:${sessionId}`;

// Retries of a record the cache refused, so a revocation made while Redis was briefly down
// still reaches Redis (and with it every instance) once it is back.
const RETRY_EVERY_MS = 1_000;

/**
 * Ends sessions' access tokens before they expire. Revoking a session writes a record keyed
 * by its id that lives as long as an access token can, so every instance's token check sees
 * it (Redis when configured, this process's memory otherwise), and tells every instance
 * through pub/sub so live sockets of those sessions close at once.
 *
 * When the cache cannot be read, the check asks the database (the revoked refresh tokens are
 * the durable record), so an outage never lets a revoked session back in.
 */
export function createSessionRevocations(deps: {
  store: Cache;
  pubsub: PubSub;
  /** How long a record must live: the access-token lifetime plus the allowed clock skew. */
  recordTtlMs: number;
  revokedInDatabase: (sessionId: string) => Promise<boolean>;
  onError: (error: unknown, event: string) => void;
}) {
  const { store, pubsub, recordTtlMs, revokedInDatabase, onError } = deps;

  function record(sessionId: string, deadline: number): Promise<void> {
    const write = () => store.set(key(sessionId), "1", Math.max(1, deadline - Date.now()));
    const failed = (error: unknown) => onError(error, "auth.revocation.record_failed");
    return write().catch((error: unknown) => {
      failed(error);
      retryInBackground(write, { everyMs: RETRY_EVERY_MS, deadline, onError: failed });
    });
  }

  return {
    /** After the revocation committed in the database. */
    async revoke(revoked: RevokedSessions): Promise<void> {
      const deadline = Date.now() + recordTtlMs;
      await Promise.all(revoked.sessionIds.map((sessionId) => record(sessionId, deadline)));
      await pubsub
        .publish(SESSION_REVOCATIONS_CHANNEL, JSON.stringify(revoked))
        .catch((error: unknown) => onError(error, "auth.revocation.publish_failed"));
    },

    async isRevoked(sessionId: string): Promise<boolean> {
      try {
        return (await store.get(key(sessionId))) !== undefined;
      } catch (error) {
        onError(error, "cache.unavailable");
        return revokedInDatabase(sessionId);
      }
    },

    /** Calls `handler` for every revocation made on any instance (this one included). */
    subscribe(handler: (revoked: RevokedSessions) => void): Promise<() => Promise<void>> {
      return pubsub.subscribe(SESSION_REVOCATIONS_CHANNEL, (message) => {
        const parsed = parseRevokedSessions(message);
        if (parsed) handler(parsed);
      });
    },
  };
}

function parseRevokedSessions(message: string): RevokedSessions | undefined {
  try {
    const value = JSON.parse(message) as Partial<RevokedSessions>;
    if (
      typeof value.userId !== "number" ||
      !Array.isArray(value.sessionIds) ||
      !value.sessionIds.every((id) => typeof id === "string") ||
      typeof value.allSessions !== "boolean"
    )
      return undefined;
    return value as RevokedSessions;
  } catch {
    return undefined;
  }
}

export type SessionRevocations = ReturnType<typeof createSessionRevocations>;
