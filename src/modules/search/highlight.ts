/**
 * Search highlights that are safe to render as HTML.
 *
 * ts_headline copies the post's text verbatim and wraps matches in StartSel/StopSel, so its
 * output is only as safe as the post. Instead of HTML markers it emits two control
 * characters; the text is then HTML-escaped here and only those characters become
 * `<mark>`…`</mark>`. The document handed to ts_headline has any of those characters
 * removed first, so every marker in the output was placed by ts_headline.
 *
 * ts_headline's parser also treats `<…>` as HTML tags and drops them from fragments, which
 * would silently eat text such as `<script>` from a post about HTML. `<` and `>` are swapped
 * for private-use characters before the call and restored (escaped) after it, so what the
 * reader sees is what the author wrote.
 */

const MARK_START = "\u0002";
const MARK_END = "\u0003";
const LESS_THAN = "\uE000";
const GREATER_THAN = "\uE001";

/**
 * `translate(document, from, to)` arguments: `<` and `>` map to their stand-ins; the marker
 * characters, and stand-ins the author typed, have no counterpart in `to` and are removed.
 */
export const HEADLINE_SOURCE_FROM = `<>${MARK_START}${MARK_END}${LESS_THAN}${GREATER_THAN}`;
export const HEADLINE_SOURCE_TO = `${LESS_THAN}${GREATER_THAN}`;

/** Highlights are cut from the title and this many leading characters of the content. */
export const HEADLINE_CONTENT_CHARS = 10_000;

/**
 * Bounded snippets: at most three fragments of 12–30 words around the matches. When only
 * the tags matched, ts_headline returns the start of the text instead.
 */
export const HEADLINE_OPTIONS = [
  `StartSel=${MARK_START}`,
  `StopSel=${MARK_END}`,
  "MaxFragments=3",
  "MaxWords=30",
  "MinWords=12",
  'FragmentDelimiter=" … "',
].join(", ");

const HTML_ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

// Five characters do not justify a dependency.
const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (char) => HTML_ESCAPES[char] ?? char);

/** Turns ts_headline output (made with the options above) into escaped HTML with `<mark>` tags. */
export function renderHighlight(headline: string): string {
  return escapeHtml(headline)
    .replaceAll(MARK_START, "<mark>")
    .replaceAll(MARK_END, "</mark>")
    .replaceAll(LESS_THAN, "&lt;")
    .replaceAll(GREATER_THAN, "&gt;");
}
