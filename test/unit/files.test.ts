import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { DEFAULT_UPLOAD_TYPES, loadConfig } from "../../src/config.js";
import { detectContentType, OCTET_STREAM } from "../../src/modules/files/content-type.js";
import {
  isSpaceOrDot,
  MAX_FILENAME_LENGTH,
  MAX_RAW_FILENAME_BYTES,
  sanitizeFilename,
  trimWhere,
} from "../../src/modules/files/filenames.js";
import {
  contentDisposition,
  ifRangeAllows,
  matchesEtag,
  parseRange,
} from "../../src/modules/files/files.http.js";

const PNG = { mime: "image/png", ext: "png" };
const TEXT = { mime: "text/plain", ext: "txt" };

describe("detectContentType", () => {
  it("reads binary formats from their signatures, whatever the name says", async () => {
    const png = await sharp({ create: { width: 2, height: 2, channels: 3, background: "#fff" } })
      .png()
      .toBuffer();
    expect(await detectContentType(png)).toEqual(PNG);
    expect((await detectContentType(Buffer.from("%PDF-1.7\n%âãÏÓ\n1 0 obj\n"))).mime).toBe("application/pdf");
    const elf = Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]), Buffer.alloc(60)]);
    expect((await detectContentType(elf)).mime).toBe("application/x-elf");
  });

  it("tells text from markup and from binary noise", async () => {
    expect(await detectContentType(Buffer.from("Hello, wörld\nsecond line\n"))).toEqual(TEXT);
    expect((await detectContentType(Buffer.from("<!DOCTYPE html><script>alert(1)</script>"))).mime).toBe(
      "text/html",
    );
    expect((await detectContentType(Buffer.from("\uFEFF  <svg onload=alert(1)>"))).mime).toBe(
      "image/svg+xml",
    );
    expect((await detectContentType(Buffer.from('<?xml version="1.0"?><a/>'))).mime).toBe("application/xml");
    expect(await detectContentType(Buffer.from([0x00, 0x01, 0x02, 0xff, 0xfe]))).toEqual(OCTET_STREAM);
    expect(await detectContentType(Buffer.from("text\u0000with a NUL"))).toEqual(OCTET_STREAM);
    // A multi-byte character cut off by the end of the sample is still text.
    expect(
      await detectContentType(Buffer.concat([Buffer.from("abc"), Buffer.from("é").subarray(0, 1)])),
    ).toEqual(TEXT);
  });

  it("accepts no markup, executables or unknown binaries by default", () => {
    const allowed = loadConfig({}).uploads.allowedTypes;
    expect(allowed).toEqual(DEFAULT_UPLOAD_TYPES);
    for (const type of [
      "text/html",
      "image/svg+xml",
      "application/xml",
      "application/x-elf",
      OCTET_STREAM.mime,
    ]) {
      expect(allowed).not.toContain(type);
    }
    expect(() => loadConfig({ UPLOAD_ALLOWED_TYPES: "image/png, not a type" })).toThrow(
      "UPLOAD_ALLOWED_TYPES",
    );
    expect(() => loadConfig({ MAX_UPLOAD_BYTES: "0" })).toThrow("MAX_UPLOAD_BYTES");
  });
});

describe("sanitizeFilename", () => {
  it.each([
    ["../../etc/passwd", TEXT, "passwd.txt"],
    ["..\\..\\windows\\x.txt", TEXT, "x.txt"],
    ["/tmp/pwn.png", PNG, "pwn.png"],
    ["a\u0000b\u0007c.png", PNG, "abc.png"],
    ["photo\u202Egnp.png", PNG, "photognp.png"],
    ["...hidden.png", PNG, "hidden.png"],
    ["CON.txt", TEXT, "_CON.txt"],
    ["", PNG, "file.png"],
    ["..", TEXT, "file.txt"],
    ["Résumé final.PNG", PNG, "Résumé final.PNG"],
    ['we"ird<>|?*:name.png', PNG, "weirdname.png"],
  ])("%j → %j", (raw, type, expected) => {
    expect(sanitizeFilename(raw, type)).toBe(expected);
  });

  it("caps the length and keeps the extension", () => {
    const name = sanitizeFilename(`${"ü".repeat(300)}.png`, PNG);
    expect([...name]).toHaveLength(MAX_FILENAME_LENGTH);
    expect(name.endsWith(".png")).toBe(true);
  });

  it("trims dots and spaces at the ends", () => {
    expect(sanitizeFilename(" . notes . . .txt", TEXT)).toBe("notes.txt");
    expect(sanitizeFilename("report. . ", TEXT)).toBe("report.txt");
  });

  it("refuses names over 1 KiB with 422 before looking at them", () => {
    expect(() => sanitizeFilename(`${"a".repeat(MAX_RAW_FILENAME_BYTES - 3)}.txt`, TEXT)).toThrow(
      /1024 bytes/,
    );
    expect(() => sanitizeFilename(`${"ü".repeat(513)}`, TEXT)).toThrow(/1024 bytes/);
    expect(sanitizeFilename(`${"a".repeat(MAX_RAW_FILENAME_BYTES - 4)}.txt`, TEXT)).toMatch(/\.txt$/);
  });

  it("trims runs of dots and spaces in linear time", () => {
    // 300k characters: a backtracking `[\s.]+$` takes minutes on this, a loop milliseconds.
    const run = ". ".repeat(50_000);
    const started = performance.now();
    expect(trimWhere(`${run}x${run}y${run}`, isSpaceOrDot, "both")).toBe(`x${run}y`);
    expect(trimWhere(`${run}x${run}`, isSpaceOrDot, "end")).toBe(`${run}x`);
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it("refuses an extension that disguises the content", () => {
    expect(() => sanitizeFilename("picture.exe", PNG)).toThrow(/does not match/);
    expect(() => sanitizeFilename("page.png", { mime: "text/html", ext: "html" })).toThrow(/does not match/);
  });
});

describe("download headers", () => {
  it("parses single byte ranges and refuses the impossible ones", () => {
    expect(parseRange(undefined, 100)).toBe("full");
    expect(parseRange("bytes=0-9", 100)).toEqual({ start: 0, end: 9 });
    expect(parseRange("bytes=90-", 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange("bytes=90-1000", 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange("bytes=-10", 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange("bytes=-1000", 100)).toEqual({ start: 0, end: 99 });
    expect(parseRange("bytes=0-1,5-6", 100)).toBe("full");
    expect(parseRange("items=0-1", 100)).toBe("full");
    for (const bad of ["bytes=100-", "bytes=5-2", "bytes=-0", "bytes=-", "bytes=a-b", "bytes=0-0"]) {
      expect(parseRange(bad, bad === "bytes=0-0" ? 0 : 100)).toBe("unsatisfiable");
    }
  });

  it("matches entity tags and If-Range", () => {
    expect(matchesEtag('"abc"', '"abc"')).toBe(true);
    expect(matchesEtag('W/"abc", "x"', '"abc"')).toBe(true);
    expect(matchesEtag("*", '"abc"')).toBe(true);
    expect(matchesEtag('"x"', '"abc"')).toBe(false);
    expect(matchesEtag(undefined, '"abc"')).toBe(false);
    expect(ifRangeAllows(undefined, '"abc"')).toBe(true);
    expect(ifRangeAllows('"old"', '"abc"')).toBe(false);
  });

  it("shows only raster images inline and encodes names per RFC 6266/5987", () => {
    expect(contentDisposition("a.png", "image/png")).toBe(`inline; filename="a.png"; filename*=UTF-8''a.png`);
    for (const type of ["text/html", "image/svg+xml", "application/pdf", "application/xml", "text/plain"]) {
      expect(contentDisposition("x", type)).toMatch(/^attachment;/);
    }
    expect(contentDisposition('Résumé "1".pdf', "application/pdf")).toBe(
      `attachment; filename="R_sum_ _1_.pdf"; filename*=UTF-8''R%C3%A9sum%C3%A9%20%221%22.pdf`,
    );
  });
});
