import { loadDriver } from "../drivers.js";
import { inSpan } from "../telemetry/telemetry.js";
import type { Mailer } from "./mailer.js";

/** Sends through an SMTP server given as `smtp://user:pass@host:port` (or `smtps://`). */
export function createSmtpMailer(options: { url: string; from: string }): Mailer {
  const url = new URL(options.url);
  const server = {
    hostname: url.hostname,
    port: Number(url.port || (url.protocol === "smtps:" ? 465 : 587)),
  };
  const nodemailer = loadDriver<typeof import("nodemailer")>("nodemailer");
  const transport = nodemailer.createTransport(options.url, {
    from: options.from,
  });
  return {
    async send(message) {
      // nodemailer has no OpenTelemetry instrumentation of its own: one client span per delivery.
      await inSpan(
        "smtp send",
        { kind: "client", attributes: { "server.address": server.hostname, "server.port": server.port } },
        () =>
          transport.sendMail({
            to: message.to,
            subject: message.subject,
            text: message.text,
            ...(message.html !== undefined ? { html: message.html } : {}),
            messageId: message.messageId,
          }),
      );
    },
    async close() {
      transport.close();
    },
  };
}
