import type { JobHandler, JobRequest } from "../../platform/jobs/index.js";
import type { Mailer } from "../../platform/mailer/index.js";
import type { User, UsersRepository } from "./users.repository.js";

export const WELCOME_EMAIL_JOB = "users.welcome_email";

export const welcomeEmailJob = (user: User): JobRequest => ({
  name: WELCOME_EMAIL_JOB,
  data: { user_id: user.id },
});

/**
 * Sends the welcome message. Safe to run twice (delivery is at-least-once): the message id
 * is derived from the user, so a repeat replaces the same file or is recognisable as a
 * duplicate by mail systems. A user deleted or deactivated meanwhile gets nothing.
 */
export function welcomeEmailHandler(deps: { usersRepository: UsersRepository; mailer: Mailer }): JobHandler {
  return async (data) => {
    const userId = Number(data.user_id);
    if (!Number.isInteger(userId)) throw new Error("welcome email job without a user_id");
    const user = await deps.usersRepository.findById(userId);
    if (!user?.isActive) return;
    await deps.mailer.send({
      to: user.email,
      subject: "Welcome to Kaira",
      text: [
        `Hello ${user.username},`,
        "",
        "your Kaira account is ready. Sign in with this email address or your username.",
        "",
        "If you did not sign up, you can ignore this message.",
      ].join("\n"),
      messageId: `<welcome-${user.id}-${user.createdAt.getTime()}@kaira>`,
    });
  };
}
