import type { MailConfig } from "../../config.js";
import { createFileMailer } from "./file-mailer.js";
import type { Mailer, MailMessage } from "./mailer.js";
import { createSmtpMailer } from "./smtp-mailer.js";

export type { Mailer, MailMessage } from "./mailer.js";

/** Chosen once from config: SMTP when SMTP_URL is set, else `.eml` files under MAIL_DIR. */
export function openMailer(
  config: MailConfig,
  onWritten?: (message: MailMessage, path: string) => void,
): Mailer {
  return config.smtpUrl
    ? createSmtpMailer({ url: config.smtpUrl, from: config.from })
    : createFileMailer({ dir: config.dir, from: config.from, ...(onWritten ? { onSent: onWritten } : {}) });
}
