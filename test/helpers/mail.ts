import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { waitFor } from "./process.js";

export interface ReadMail {
  file: string;
  raw: string;
  text: string;
  html: string | undefined;
}

/** Splits an .eml the file mailer wrote into its text and HTML parts. */
export function parseMail(raw: string): Omit<ReadMail, "file"> {
  const boundary = /boundary="([^"]+)"/.exec(raw)?.[1];
  const bodyOf = (part: string) => part.slice(part.indexOf("\r\n\r\n") + 4).replace(/\r\n/g, "\n");
  if (!boundary) return { raw, text: bodyOf(raw), html: undefined };
  const parts = raw.split(`--${boundary}`).slice(1, -1);
  const text = parts.find((part) => part.includes("Content-Type: text/plain"));
  const html = parts.find((part) => part.includes("Content-Type: text/html"));
  return { raw, text: text ? bodyOf(text).trimEnd() : "", html: html ? bodyOf(html).trimEnd() : undefined };
}

/** Every message in `dir` sent to `to` whose subject is `subject`. */
export async function mailsTo(dir: string, to: string, subject: string): Promise<ReadMail[]> {
  const names = (await readdir(dir).catch(() => [])).filter((name) => name.endsWith(".eml"));
  const mails: ReadMail[] = [];
  for (const name of names) {
    const raw = await readFile(join(dir, name), "utf8").catch(() => "");
    if (raw.includes(`\r\nTo: ${to}\r\n`) && raw.includes(`\r\nSubject: ${subject}\r\n`))
      mails.push({ file: name, ...parseMail(raw) });
  }
  return mails;
}

/** Waits until a message to `to` with `subject` (and not in `except`) was written, as a user waits for mail. */
export async function waitForMail(
  dir: string,
  to: string,
  subject: string,
  except: ReadMail[] = [],
): Promise<ReadMail> {
  return waitFor(
    async () =>
      (await mailsTo(dir, to, subject)).find((mail) => !except.some((seen) => seen.raw === mail.raw)),
    15_000,
    `mail "${subject}" to ${to}`,
  );
}

/** The link in a message's text part, and the token in its fragment — what a user would click. */
export function linkIn(mail: ReadMail): { url: URL; token: string } {
  const match = /(https?:\/\/\S+#token=[A-Za-z0-9_%-]+)/.exec(mail.text);
  if (!match?.[1]) throw new Error(`no link in mail:\n${mail.text}`);
  const url = new URL(match[1]);
  return { url, token: decodeURIComponent(url.hash.slice("#token=".length)) };
}
