import { randomBytes } from "node:crypto";
import { mkdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Mailer, MailMessage } from "./mailer.js";

/** Encodes a header value as RFC 2047 UTF-8 when it is not plain ASCII. */
const header = (value: string) =>
  /^[\x20-\x7e]*$/.test(value) ? value : `=?UTF-8?B?${Buffer.from(value).toString("base64")}?=`;

/** The file name for a message: its id, reduced to characters safe in any file system. */
export const mailFileName = (messageId: string) =>
  `${messageId.replace(/[^A-Za-z0-9@._-]/g, "").replace(/^\.+/, "") || "message"}.eml`;

const crlf = (text: string) => text.replace(/\r?\n/g, "\r\n");

/** The body lines: plain text alone, or multipart/alternative with the HTML part last (preferred). */
function body(message: MailMessage): string[] {
  const part = (type: string, content: string) => [
    `Content-Type: ${type}; charset=utf-8`,
    "Content-Transfer-Encoding: 8bit",
    "",
    crlf(content),
  ];
  if (message.html === undefined) return part("text/plain", message.text);
  // The boundary is random, so no content can contain it by accident or by design.
  const boundary = `kaira-${randomBytes(12).toString("hex")}`;
  return [
    `Content-Type: multipart/alternative; boundary="${boundary}"`,
    "",
    `--${boundary}`,
    ...part("text/plain", message.text),
    `--${boundary}`,
    ...part("text/html", message.html),
    `--${boundary}--`,
  ];
}

/** Writes each message to `dir` as an RFC 5322 `.eml` file named after its Message-ID. */
export function createFileMailer(options: {
  dir: string;
  from: string;
  onSent?: (message: MailMessage, path: string) => void;
}): Mailer {
  return {
    async send(message) {
      for (const value of [message.to, message.subject, message.messageId]) {
        if (/[\r\n]/.test(value)) throw new Error("mail headers must not contain line breaks");
      }
      await mkdir(options.dir, { recursive: true, mode: 0o700 });
      const eml = [
        `From: ${header(options.from)}`,
        `To: ${message.to}`,
        `Subject: ${header(message.subject)}`,
        `Message-ID: ${message.messageId}`,
        `Date: ${new Date().toUTCString()}`,
        "MIME-Version: 1.0",
        ...body(message),
        "",
      ].join("\r\n");
      const path = join(options.dir, mailFileName(message.messageId));
      // Write then rename: a reader never sees half a message, and a retry replaces it whole.
      const temporary = `${path}.${randomBytes(6).toString("hex")}.tmp`;
      await writeFile(temporary, eml, { mode: 0o600 });
      await rename(temporary, path);
      options.onSent?.(message, path);
    },
    async close() {},
  };
}
