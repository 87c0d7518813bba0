import { readFile } from "node:fs/promises";

// The templates live in resources/mail (shipped in the image beside the common-password
// list); the same depth from src/ and dist/.
const TEMPLATE_DIR = new URL("../../../resources/mail/", import.meta.url);

export const MAIL_TEMPLATES = [
  "welcome",
  "welcome-verified",
  "verify-email",
  "password-reset",
  "password-changed",
  "email-change-confirm",
  "email-change-notice",
] as const;
export type MailTemplate = (typeof MAIL_TEMPLATES)[number];

const HTML_ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};
/** Escapes a value for HTML text and quoted attributes alike. */
export const escapeHtml = (value: string) => value.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);

const loaded = new Map<string, Promise<string>>();
const load = (file: string) => {
  let text = loaded.get(file);
  if (!text) {
    text = readFile(new URL(file, TEMPLATE_DIR), "utf8");
    // A failed read is not cached: the job's retry reads again.
    text.catch(() => loaded.delete(file));
    loaded.set(file, text);
  }
  return text;
};

/**
 * `{{name}}` placeholders, filled with `values`; in HTML each value is escaped (a username is
 * the user's own text, and an address may hold quotes). A placeholder without a value is a
 * bug in the template or the caller, never sent half-filled.
 */
function fill(template: string, values: Record<string, string>, encode: (value: string) => string): string {
  return template.replace(/\{\{(\w+)\}\}/g, (_match, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`mail template placeholder {{${name}}} has no value`);
    return encode(value);
  });
}

/** The text and HTML parts of a message from its two templates (`<name>.txt`, `<name>.html` in the layout). */
export async function renderMail(
  name: MailTemplate,
  subject: string,
  values: Record<string, string>,
): Promise<{ text: string; html: string }> {
  const [text, html, layout] = await Promise.all([
    load(`${name}.txt`),
    load(`${name}.html`),
    load("layout.html"),
  ]);
  const [before = "", after = ""] = layout.split("{{{content}}}");
  return {
    text: fill(text, values, (value) => value),
    // The layout wraps the already escaped body; only its own placeholders are filled here.
    html: [
      fill(before, { subject }, escapeHtml),
      fill(html, values, escapeHtml),
      fill(after, {}, escapeHtml),
    ].join(""),
  };
}
