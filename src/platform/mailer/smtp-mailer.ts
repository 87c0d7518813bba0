import nodemailer from "nodemailer";
import type { Mailer } from "./mailer.js";

/** Sends through an SMTP server given as `smtp://user:pass@host:port` (or `smtps://`). */
export function createSmtpMailer(options: { url: string; from: string }): Mailer {
  const transport = nodemailer.createTransport(options.url, {
    from: options.from,
  });
  return {
    async send(message) {
      await transport.sendMail({
        to: message.to,
        subject: message.subject,
        text: message.text,
        messageId: message.messageId,
      });
    },
    async close() {
      transport.close();
    },
  };
}
