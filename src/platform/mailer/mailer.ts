export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  /** An HTML alternative of `text`; values in it must already be escaped. */
  html?: string;
  /**
   * A stable id such as `<welcome-42@kaira>`. A job that runs twice sends the same id, so
   * the file adapter overwrites its message and mail systems can drop the duplicate.
   */
  messageId: string;
}

/**
 * The mailer port. The default adapter writes each message as an `.eml` file (and a log
 * line), so development needs no mail server; the SMTP adapter sends when SMTP_URL is set.
 */
export interface Mailer {
  send(message: MailMessage): Promise<void>;
  close(): Promise<void>;
}
