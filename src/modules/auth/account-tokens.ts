import { createHash, randomBytes } from "node:crypto";
import type { SecurityLog } from "../../http/security-log.js";
import type { AccountTokenRow } from "../../platform/database/schema.js";
import { clientAddressKey } from "../../shared/client-address.js";
import type { AccountTokensRepository, TokenExecutor } from "./account-tokens.repository.js";
import type { CredentialThrottle } from "./credential-throttle.js";

/**
 * What a token may be used for, how long it lives, and whether issuing one voids the user's
 * earlier unspent ones (only the latest link of its kind works). A token of one purpose is
 * worthless for any other: purposes are matched in the consuming statement itself.
 */
export const ACCOUNT_TOKEN_POLICIES = {
  // A day: the sign-up mail may be read the next morning; a new one can be asked for.
  email_verification: { ttlSeconds: 24 * 3600, replacesEarlier: true },
  // Short (OWASP's forgot-password advice): the link is as good as the password.
  password_reset: { ttlSeconds: 30 * 60, replacesEarlier: true },
  email_change: { ttlSeconds: 24 * 3600, replacesEarlier: true },
  // The old address's way back after a hijack: it lives longer than the change's own link
  // so its owner has time to notice, and a later change never voids it.
  email_change_cancel: { ttlSeconds: 72 * 3600, replacesEarlier: false },
} as const satisfies Record<string, { ttlSeconds: number; replacesEarlier: boolean }>;

export type AccountTokenPurpose = keyof typeof ACCOUNT_TOKEN_POLICIES;

/** 256 random bits; only their SHA-256 is stored, so a database leak yields no usable token. */
const newToken = () => randomBytes(32).toString("base64url");
export const hashAccountToken = (token: string) => createHash("sha256").update(token).digest("hex");

/**
 * Issues and spends one-time account tokens. Every use — accepted or refused — is a security
 * event; refused ones count against the client address under the credential throttle, so
 * nobody can try tokens at speed (not that 256 bits could be guessed).
 */
export function createAccountTokens(deps: {
  repository: AccountTokensRepository;
  credentialThrottle: CredentialThrottle;
}) {
  const { repository, credentialThrottle } = deps;
  return {
    /** A new token for the user, stored hashed in `executor`'s transaction; the token itself goes only into the mail. */
    async issue(
      executor: TokenExecutor,
      request: {
        userId: number;
        purpose: AccountTokenPurpose;
        email?: string | null;
        /**
         * When the request this token answers was authorised, if earlier than now (a job
         * issues it later): the token counts as issued then, so a password change in between
         * voids it (see the email change).
         */
        issuedAt?: Date;
      },
    ): Promise<{ token: string; expiresAt: Date }> {
      const policy = ACCOUNT_TOKEN_POLICIES[request.purpose];
      if (policy.replacesEarlier) await repository.revokeUnused(executor, request.userId, [request.purpose]);
      const token = newToken();
      const expiresAt = new Date(Date.now() + policy.ttlSeconds * 1000);
      await repository.insert(executor, {
        userId: request.userId,
        purpose: request.purpose,
        tokenHash: hashAccountToken(token),
        email: request.email ?? null,
        expiresAt,
        ...(request.issuedAt ? { createdAt: request.issuedAt } : {}),
      });
      return { token, expiresAt };
    },

    /**
     * Spends `token` for `purpose` inside `executor`'s transaction: the row when it was
     * valid (unspent, unexpired, this purpose), else undefined. A throttled address gets
     * 429 before anything is looked up.
     */
    async consume(
      executor: TokenExecutor,
      token: string,
      purpose: AccountTokenPurpose,
      context: { address: string; log: SecurityLog },
    ): Promise<AccountTokenRow | undefined> {
      let row: AccountTokenRow | undefined;
      // Keyed by purpose and address: one address's bad tokens never slow anyone else down.
      const throttleKey = `token:${purpose}|${clientAddressKey(context.address)}`;
      try {
        await credentialThrottle.check(throttleKey, context.address, async () => {
          row = await repository.consume(executor, hashAccountToken(token), purpose);
          return row !== undefined;
        });
      } catch (error) {
        context.log({ event: "auth.throttled", purpose, ip: context.address });
        throw error;
      }
      context.log(
        row
          ? { event: "account_token.used", purpose, user_id: row.userId, ip: context.address }
          : { event: "account_token.rejected", purpose, ip: context.address },
      );
      return row;
    },

    /**
     * Whether `token` could be spent for `purpose` now, without spending it: for flows that
     * must check more (a new password's policy) before the transaction that spends it.
     * Refusals count against the address like failed uses.
     */
    async check(
      token: string,
      purpose: AccountTokenPurpose,
      context: { address: string; log: SecurityLog },
    ): Promise<AccountTokenRow | undefined> {
      let row: AccountTokenRow | undefined;
      try {
        await credentialThrottle.check(
          `token:${purpose}|${clientAddressKey(context.address)}`,
          context.address,
          async () => {
            row = await repository.findUsable(hashAccountToken(token), purpose);
            return row !== undefined;
          },
        );
      } catch (error) {
        context.log({ event: "auth.throttled", purpose, ip: context.address });
        throw error;
      }
      if (!row) context.log({ event: "account_token.rejected", purpose, ip: context.address });
      return row;
    },

    /** Voids the user's unspent tokens of these purposes (after a password reset, say). */
    revokeUnused: (executor: TokenExecutor, userId: number, purposes: AccountTokenPurpose[]) =>
      repository.revokeUnused(executor, userId, purposes),

    /** As revokeUnused, outside any transaction. */
    revokeUnusedNow: (userId: number, purposes: AccountTokenPurpose[]) =>
      repository.revokeUnusedNow(userId, purposes),
  };
}

export type AccountTokens = ReturnType<typeof createAccountTokens>;
