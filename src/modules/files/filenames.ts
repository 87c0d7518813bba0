import { UnsupportedMediaTypeError, ValidationFailedError } from "../../shared/errors.js";
import type { DetectedType } from "./content-type.js";

/** Longest stored name in characters, extension included. */
export const MAX_FILENAME_LENGTH = 150;

/** Longest name a client may send, in UTF-8 bytes; longer ones are refused before any work. */
export const MAX_RAW_FILENAME_BYTES = 1024;

/** Extensions accepted for a type; the first is added to names that have none. */
const EXTENSIONS: Record<string, string[]> = {
  "image/png": ["png"],
  "image/jpeg": ["jpg", "jpeg", "jpe", "jfif"],
  "image/gif": ["gif"],
  "image/webp": ["webp"],
  "application/pdf": ["pdf"],
  "text/plain": ["txt", "text", "md", "markdown", "csv", "tsv", "log"],
  "application/octet-stream": ["bin", "dat"],
};

// Control and invisible formatting characters (a right-to-left override turns
// "photo\u202egnp.exe" into "photoexe.png" on screen), and characters file systems reserve.
const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}<>:"|?*]/gu;
const WINDOWS_RESERVED = /^(con|prn|aux|nul|com\d|lpt\d)$/i;

export const extensionsFor = (type: DetectedType): string[] => EXTENSIONS[type.mime] ?? [type.ext];

/**
 * Refuses a client's file name longer than MAX_RAW_FILENAME_BYTES (422), so every later step
 * works on a bounded string.
 */
export function assertFilenameBounded(raw: string): void {
  if (Buffer.byteLength(raw, "utf8") > MAX_RAW_FILENAME_BYTES) {
    throw new ValidationFailedError([
      {
        loc: ["body", "file", "filename"],
        msg: `must be at most ${MAX_RAW_FILENAME_BYTES} bytes`,
        type: "string_too_long",
      },
    ]);
  }
}

export const isSpaceOrDot = (char: string) => char === "." || /\s/.test(char);

/**
 * `value` without the characters at either end that `strip` matches. A loop, not a regex:
 * `/[\s.]+$/` backtracks from every position of a long run of dots and spaces (quadratic
 * time in the name's length), which let one upload stall the event loop for seconds.
 */
export function trimWhere(value: string, strip: (char: string) => boolean, ends: "both" | "end"): string {
  let start = 0;
  let end = value.length;
  if (ends === "both") while (start < end && strip(value[start] as string)) start += 1;
  while (end > start && strip(value[end - 1] as string)) end -= 1;
  return value.slice(start, end);
}

/**
 * The client's file name reduced to a plain name: no directory parts (either slash), no
 * control or formatting characters, no leading dots, capped in length. Its extension must
 * be one the detected type uses — a PNG called `.exe` or HTML called `.png` is refused, so a
 * name never disguises what a file is; a name without an extension gets the type's.
 * Every step is linear in the name's length, and the name is bounded before it gets here.
 */
export function sanitizeFilename(raw: string, type: DetectedType): string {
  assertFilenameBounded(raw);
  const leaf = raw.normalize("NFC").split(/[/\\]/).pop() ?? "";
  let name = trimWhere(leaf.replace(UNSAFE, "").replace(/\s+/g, " "), isSpaceOrDot, "both");
  const dot = name.lastIndexOf(".");
  let base = dot > 0 ? name.slice(0, dot) : name;
  const given = dot > 0 ? name.slice(dot + 1).toLowerCase() : "";
  const allowed = extensionsFor(type);
  let ext: string;
  if (given === "") {
    ext = allowed[0] as string;
  } else if (allowed.includes(given)) {
    ext = name.slice(dot + 1);
  } else {
    throw new UnsupportedMediaTypeError(
      "extension_mismatch",
      `The file's content is ${type.mime}, which does not match its extension ".${given}"; use .${allowed.join(", .")}`,
    );
  }
  base = trimWhere(base, isSpaceOrDot, "end");
  if (base === "") base = "file";
  if (WINDOWS_RESERVED.test(base)) base = `_${base}`;
  const room = MAX_FILENAME_LENGTH - ext.length - 1;
  // Cut by code points, not UTF-16 units, so no character is split in half.
  name = `${[...base].slice(0, room).join("")}.${ext}`;
  return name;
}
