import type { ByteRange } from "../../platform/storage/index.js";
import { INLINE_TYPES } from "./content-type.js";

/**
 * What a `Range` header asks of a file of `size` bytes (RFC 9110 §14):
 *   "full"            no usable range — serve everything with 200 (no header, another unit,
 *                     or several ranges: multipart/byteranges is not worth its complexity)
 *   "unsatisfiable"   a malformed byte range or one outside the file — 416
 *   a ByteRange       one inclusive range, clamped to the file — 206
 */
export function parseRange(header: string | undefined, size: number): ByteRange | "full" | "unsatisfiable" {
  if (header === undefined) return "full";
  const match = /^\s*bytes\s*=\s*(.*)$/i.exec(header);
  if (!match) return "full";
  const spec = (match[1] as string).trim();
  if (spec.includes(",")) return "full";
  const range = /^(\d*)\s*-\s*(\d*)$/.exec(spec);
  if (!range) return "unsatisfiable";
  const [, first, last] = range as unknown as [string, string, string];
  if (first === "" && last === "") return "unsatisfiable";
  if (first === "") {
    // A suffix: the last N bytes.
    const length = Number(last);
    if (length === 0 || size === 0) return "unsatisfiable";
    return { start: Math.max(0, size - length), end: size - 1 };
  }
  const start = Number(first);
  const end = last === "" ? size - 1 : Math.min(Number(last), size - 1);
  if (start >= size || (last !== "" && Number(last) < start)) return "unsatisfiable";
  return { start, end };
}

/** A strong validator from the content hash: equal bytes, equal tag, on every instance. */
export const etagOf = (sha256: string) => `"${sha256}"`;

/** `If-None-Match` (weak comparison, RFC 9110 §13.1.2): true when the client's copy is current. */
export function matchesEtag(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  if (header.trim() === "*") return true;
  return header.split(",").some((tag) => tag.trim().replace(/^W\//, "") === etag);
}

/** `If-Range`: a range is served only while the client's validator is still current. */
export function ifRangeAllows(header: string | undefined, etag: string): boolean {
  return header === undefined || header.trim() === etag;
}

// RFC 5987 attr-char: what may stay unescaped in `filename*`.
const encodeExtValue = (value: string) =>
  encodeURIComponent(value).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/**
 * RFC 6266 `Content-Disposition`. Only raster images are shown in place; everything else,
 * above all what a browser could run or render as a page (HTML, SVG, XML, PDF), downloads.
 * The name goes twice: an ASCII fallback, and the exact UTF-8 name in `filename*`.
 */
export function contentDisposition(filename: string, contentType: string): string {
  const disposition = INLINE_TYPES.has(contentType) ? "inline" : "attachment";
  const fallback = filename.replace(/[^\x20-\x7e]|["\\%]/g, "_");
  return `${disposition}; filename="${fallback}"; filename*=UTF-8''${encodeExtValue(filename)}`;
}

/** Sent with every file's bytes: no sniffing, and a sandbox should anything still render it. */
export const FILE_SECURITY_HEADERS = {
  "x-content-type-options": "nosniff",
  "content-security-policy": "sandbox; default-src 'none'; frame-ancestors 'none'",
} as const;
