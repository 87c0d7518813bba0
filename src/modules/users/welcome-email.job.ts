import type { Db } from "../../platform/database/index.js";
import type { JobHandler, JobRequest } from "../../platform/jobs/index.js";
import type { Mailer } from "../../platform/mailer/index.js";
import type { AccountTokens } from "../auth/account-tokens.js";
import { ACCOUNT_TOKEN_POLICIES } from "../auth/account-tokens.js";
import { accountLink } from "./account-links.js";
import { renderMail } from "./mail-templates.js";
import type { User, UsersRepository } from "./users.repository.js";

export const WELCOME_EMAIL_JOB = "users.welcome_email";

export const welcomeEmailJob = (user: User): JobRequest => ({
  name: WELCOME_EMAIL_JOB,
  data: { user_id: user.id },
});

export interface AccountMailDeps {
  db: Db;
  usersRepository: UsersRepository;
  accountTokens: AccountTokens;
  mailer: Mailer;
  publicUrl: string;
}

/**
 * Sends the welcome message, with the email-verification link unless the address is
 * verified already (an operator-made admin). The token is made here, when the mail goes
 * out, so it exists only in the mail: never in the job's data, the queue or Redis. Safe to
 * run twice (delivery is at-least-once): a rerun issues a fresh link, which voids the first,
 * under the same message id, so the file adapter replaces the message and mail systems can
 * drop the duplicate. A user deleted or deactivated meanwhile gets nothing.
 */
export function welcomeEmailHandler(deps: AccountMailDeps): JobHandler {
  return async (data) => {
    const userId = Number(data.user_id);
    if (!Number.isInteger(userId)) throw new Error("welcome email job without a user_id");
    const user = await deps.usersRepository.findById(userId);
    if (!user?.isActive) return;
    const subject = "Welcome to Kaira";
    const parts =
      user.emailVerifiedAt !== null
        ? await renderMail("welcome-verified", subject, { username: user.username })
        : await renderMail("welcome", subject, {
            username: user.username,
            hours: String(ACCOUNT_TOKEN_POLICIES.email_verification.ttlSeconds / 3600),
            link: accountLink(
              deps.publicUrl,
              "email_verification",
              (
                await deps.db.transaction((tx) =>
                  deps.accountTokens.issue(tx, { userId, purpose: "email_verification", email: user.email }),
                )
              ).token,
            ),
          });
    await deps.mailer.send({
      to: user.email,
      subject,
      ...parts,
      messageId: `<welcome-${user.id}-${user.createdAt.getTime()}@kaira>`,
    });
  };
}
