import type { SecurityLog } from "../../http/security-log.js";
import { NotFoundError } from "../../shared/errors.js";
import type { AccountTokens } from "./account-tokens.js";
import type { Principal } from "./auth.plugin.js";
import type { ActiveSession, RefreshTokensRepository } from "./refresh-tokens.repository.js";
import type { SessionRevocations } from "./session-revocations.js";

export interface ListedSession extends ActiveSession {
  current: boolean;
}

// Session ids are the `sid` of access tokens: UUIDs. Anything else names no session.
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * A user's own sessions (refresh-token families): list them, end one, end all the others.
 * Ending a session revokes its refresh tokens in the database first (the durable record),
 * then its access tokens and live sockets on every instance through the revocation store.
 */
export function createSessionsService(deps: {
  refreshTokensRepository: RefreshTokensRepository;
  sessionRevocations: SessionRevocations;
  accountTokens?: Pick<AccountTokens, "revokeUnusedNow">;
}) {
  const { refreshTokensRepository, sessionRevocations, accountTokens } = deps;
  return {
    async list(principal: Principal): Promise<ListedSession[]> {
      const sessions = await refreshTokensRepository.listActiveSessions(principal.userId);
      return sessions.map((session) => ({ ...session, current: session.familyId === principal.sessionId }));
    },

    /** Another user's session, or one that does not exist, is the same 404: ids reveal nothing. */
    async revoke(principal: Principal, sessionId: string, log: SecurityLog): Promise<void> {
      const ended =
        UUID.test(sessionId) &&
        (await refreshTokensRepository.revokeFamilyOfUser(principal.userId, sessionId.toLowerCase()));
      if (!ended) throw new NotFoundError("No such session", "session_not_found");
      await sessionRevocations.revoke({
        userId: principal.userId,
        sessionIds: [sessionId.toLowerCase()],
        allSessions: false,
      });
      log({
        event: "auth.session.revoked",
        user_id: principal.userId,
        family_id: sessionId.toLowerCase(),
        current: sessionId.toLowerCase() === principal.sessionId,
      });
    },

    /**
     * Ends every session of the caller but the one making the request; returns how many ended.
     * A user doing this fears someone else is in: pending email changes and verification
     * links (which an intruder may have asked for) die too.
     */
    async revokeOthers(principal: Principal, log: SecurityLog): Promise<number> {
      const ended = await refreshTokensRepository.revokeAllForUser(principal.userId, principal.sessionId);
      await accountTokens?.revokeUnusedNow(principal.userId, ["email_change", "email_verification"]);
      if (ended.length > 0)
        await sessionRevocations.revoke({ userId: principal.userId, sessionIds: ended, allSessions: false });
      log({ event: "auth.session.revoked_others", user_id: principal.userId, count: ended.length });
      return ended.length;
    },
  };
}

export type SessionsService = ReturnType<typeof createSessionsService>;
