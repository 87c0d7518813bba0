import { type JobHandler, PermanentJobError } from "../../platform/jobs/index.js";
import { ACCOUNT_TOKEN_POLICIES, type AccountTokenPurpose } from "../auth/account-tokens.js";
import type { Transaction } from "./account-lifecycle.repository.js";
import { accountLink } from "./account-links.js";
import { renderMail } from "./mail-templates.js";
import type { User } from "./users.repository.js";
import type { AccountMailDeps } from "./welcome-email.job.js";

export const VERIFICATION_EMAIL_JOB = "users.verification_email";
export const PASSWORD_RESET_EMAIL_JOB = "users.password_reset_email";
export const PASSWORD_CHANGED_EMAIL_JOB = "users.password_changed_email";
export const EMAIL_CHANGE_EMAILS_JOB = "users.email_change_emails";

/*
 * The account mails. Each job makes its token when it runs, so a token exists only in the
 * mail (never in the job's data, the queue or Redis), and the public requests that record
 * these jobs do the same work whether the account exists or not: the lookup happens here.
 * Delivery is at-least-once: a rerun issues a fresh token (voiding the first where the
 * purpose allows only one) under the same message id (from the job id).
 */

const stringField = (data: Record<string, unknown>, name: string): string => {
  const value = data[name];
  if (typeof value !== "string" || value.length === 0 || value.length > 320)
    throw new PermanentJobError(`job data without a valid ${name}`);
  return value;
};
const userIdField = (data: Record<string, unknown>): number => {
  const value = Number(data.user_id);
  if (!Number.isInteger(value) || value < 1) throw new PermanentJobError("job data without a valid user_id");
  return value;
};

const hours = (purpose: AccountTokenPurpose) => String(ACCOUNT_TOKEN_POLICIES[purpose].ttlSeconds / 3600);

/** Where an account can receive mail: active and not deleted. */
const reachable = (user: User | undefined): user is User =>
  user?.isActive === true && user.deletedAt === null;

export function accountMailHandlers(deps: AccountMailDeps): Record<string, JobHandler> {
  const issue = (userId: number, purpose: AccountTokenPurpose, email: string) =>
    deps.db.transaction((tx: Transaction) => deps.accountTokens.issue(tx, { userId, purpose, email }));

  return {
    /** A new verification link for an address asked about publicly: only an unverified account gets one. */
    async [VERIFICATION_EMAIL_JOB](data, context) {
      const user = await deps.usersRepository.findByEmail(stringField(data, "email"));
      if (!reachable(user) || user.emailVerifiedAt !== null) return;
      const { token } = await issue(user.id, "email_verification", user.email);
      const subject = "Confirm your email address";
      await deps.mailer.send({
        to: user.email,
        subject,
        ...(await renderMail("verify-email", subject, {
          username: user.username,
          hours: hours("email_verification"),
          link: accountLink(deps.publicUrl, "email_verification", token),
        })),
        messageId: `<verify-email-${context.jobId}@kaira>`,
      });
    },

    /** A reset link for an address asked about publicly: nothing at all for an unknown one. */
    async [PASSWORD_RESET_EMAIL_JOB](data, context) {
      const user = await deps.usersRepository.findByEmail(stringField(data, "email"));
      if (!reachable(user)) return;
      const { token } = await issue(user.id, "password_reset", user.email);
      const subject = "Reset your Kaira password";
      await deps.mailer.send({
        to: user.email,
        subject,
        ...(await renderMail("password-reset", subject, {
          username: user.username,
          minutes: String(ACCOUNT_TOKEN_POLICIES.password_reset.ttlSeconds / 60),
          link: accountLink(deps.publicUrl, "password_reset", token),
        })),
        messageId: `<password-reset-${context.jobId}@kaira>`,
      });
    },

    /** The notice after a reset, so an owner who did not ask for it learns of it. */
    async [PASSWORD_CHANGED_EMAIL_JOB](data, context) {
      const user = await deps.usersRepository.findById(userIdField(data));
      if (!reachable(user)) return;
      const subject = "Your Kaira password was reset";
      await deps.mailer.send({
        to: user.email,
        subject,
        ...(await renderMail("password-changed", subject, {
          username: user.username,
          time: stringField(data, "at"),
        })),
        messageId: `<password-changed-${context.jobId}@kaira>`,
      });
    },

    /**
     * A change of address: the confirmation link to the new address, and to the current
     * one a notice with a cancel link (which also undoes the change if it was confirmed).
     * Both tokens are issued before either mail goes out.
     */
    async [EMAIL_CHANGE_EMAILS_JOB](data, context) {
      const user = await deps.usersRepository.findById(userIdField(data));
      const newEmail = stringField(data, "new_email");
      if (!reachable(user)) return;
      // Jobs recorded before requests carried their time count as asked for now.
      const requested = typeof data.requested_at === "string" ? new Date(data.requested_at) : new Date();
      const requestedAt = Number.isNaN(requested.getTime()) ? new Date() : requested;
      // The password changed since the request (a reset by the owner, say): the change is void.
      // Both times are read to the millisecond, and a password changed in the request itself
      // is changed before the request's time is taken: a password change in the same
      // millisecond as the request counts as made before it, and does not void it.
      if (user.passwordChangedAt !== null && user.passwordChangedAt > requestedAt) return;
      const [confirm, cancel] = await deps.db.transaction(async (tx: Transaction) => [
        await deps.accountTokens.issue(tx, {
          userId: user.id,
          purpose: "email_change",
          email: newEmail,
          issuedAt: requestedAt,
        }),
        await deps.accountTokens.issue(tx, {
          userId: user.id,
          purpose: "email_change_cancel",
          email: user.email,
        }),
      ]);
      const confirmSubject = "Confirm your new email address";
      await deps.mailer.send({
        to: newEmail,
        subject: confirmSubject,
        ...(await renderMail("email-change-confirm", confirmSubject, {
          username: user.username,
          new_email: newEmail,
          hours: hours("email_change"),
          link: accountLink(deps.publicUrl, "email_change", confirm.token),
        })),
        messageId: `<email-change-confirm-${context.jobId}@kaira>`,
      });
      const noticeSubject = "Your Kaira email address is being changed";
      await deps.mailer.send({
        to: user.email,
        subject: noticeSubject,
        ...(await renderMail("email-change-notice", noticeSubject, {
          username: user.username,
          new_email: newEmail,
          hours: hours("email_change_cancel"),
          link: accountLink(deps.publicUrl, "email_change_cancel", cancel.token),
        })),
        messageId: `<email-change-notice-${context.jobId}@kaira>`,
      });
    },
  };
}
