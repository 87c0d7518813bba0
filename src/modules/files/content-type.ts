import { fileTypeFromBuffer } from "file-type";

/** How many leading bytes decide a file's type: file-type's own sample size. */
export const SNIFF_BYTES = 4100;

export interface DetectedType {
  mime: string;
  /** The canonical extension for the type, without a dot. */
  ext: string;
}

export const OCTET_STREAM: DetectedType = { mime: "application/octet-stream", ext: "bin" };

// Characters that never occur in text meant for people: C0 controls except tab, line feed,
// form feed and carriage return, plus DEL.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const BINARY_CONTROL = /[\u0000-\u0008\u000b\u000e-\u001f\u007f]/;

/**
 * Markup a browser would render or run. file-type leaves text formats alone, so we look for
 * them ourselves: such a file is classified as what it is (and refused by the default
 * allow-list) rather than passing as plain text.
 */
function markupType(text: string): DetectedType | undefined {
  const start = text
    .replace(/^\uFEFF/, "")
    .trimStart()
    .slice(0, 1024)
    .toLowerCase();
  if (!start.startsWith("<")) return undefined;
  if (start.includes("<svg")) return { mime: "image/svg+xml", ext: "svg" };
  if (start.startsWith("<?xml")) return { mime: "application/xml", ext: "xml" };
  return { mime: "text/html", ext: "html" };
}

/**
 * The type of a file from its first bytes (never from the client's name or header): binary
 * formats by their signatures (file-type), then UTF-8 text without control characters as
 * text/plain, markup as what it is, and anything else as application/octet-stream.
 */
export async function detectContentType(head: Uint8Array): Promise<DetectedType> {
  const detected = await fileTypeFromBuffer(head);
  if (detected) return { mime: detected.mime, ext: detected.ext };
  if (head.length === 0) return OCTET_STREAM;
  let text: string;
  try {
    // `stream: true` tolerates a multi-byte character cut off at the end of the sample.
    text = new TextDecoder("utf-8", { fatal: true }).decode(head, { stream: true });
  } catch {
    return OCTET_STREAM;
  }
  if (BINARY_CONTROL.test(text)) return OCTET_STREAM;
  return markupType(text) ?? { mime: "text/plain", ext: "txt" };
}

/** Raster images a browser only displays: the one kind of file served `inline`. */
export const INLINE_TYPES: ReadonlySet<string> = new Set([
  "image/png",
  "image/jpeg",
  "image/gif",
  "image/webp",
]);

/** Images the thumbnail job can read. */
export const THUMBNAIL_SOURCE_TYPES = INLINE_TYPES;
