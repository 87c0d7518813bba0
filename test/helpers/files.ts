import { randomBytes } from "node:crypto";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import type { FastifyInstance } from "fastify";
import sharp from "sharp";
import { bearer } from "./auth.js";

/** A multipart/form-data body with one file part, built by hand so tests control every byte. */
export function multipartBody(filename: string, content: Buffer, field = "file") {
  const boundary = `----kaira-test-${randomBytes(8).toString("hex")}`;
  const escaped = filename.replace(/\\/g, "\\\\").replace(/"/g, '\\"');
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="${escaped}"\r\n` +
      "Content-Type: application/octet-stream\r\n\r\n",
    "latin1",
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  return {
    payload: Buffer.concat([head, content, tail]),
    headers: { "content-type": `multipart/form-data; boundary=${boundary}` },
  };
}

/**
 * `size` random bytes that no file signature matches. Bare random bytes look like MP3, AAC or
 * PostScript about once in 1,300 draws (their signatures are two or three bytes long), which
 * would make a test of "arbitrary binary" flaky; a fixed text-free header rules that out.
 */
export function opaqueBytes(size: number): Buffer {
  const header = Buffer.from([0x00, 0x4b, 0x41, 0x49, 0x52, 0x41, 0x00, 0x01]);
  return Buffer.concat([header, randomBytes(Math.max(0, size - header.length))]).subarray(0, size);
}

export function upload(
  app: FastifyInstance,
  token: string,
  filename: string,
  content: Buffer,
  field?: string,
) {
  const body = multipartBody(filename, content, field);
  return app.inject({
    method: "POST",
    url: "/api/v1/files",
    headers: { ...bearer(token), ...body.headers },
    payload: body.payload,
  });
}

export const pngOf = (width: number, height: number) =>
  sharp({ create: { width, height, channels: 3, background: { r: 200, g: 40, b: 90 } } })
    .png()
    .toBuffer();

function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/**
 * A PNG whose structure is valid (signature, chunks, checksums) around `data` as its pixel
 * stream. With a tiny valid stream and a huge `side` it has a decompression bomb's shape;
 * with random bytes it is a corrupt image.
 */
export function pngClaiming(
  side: number,
  data = Buffer.from([0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]),
): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(side, 0);
  header.writeUInt32BE(side, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk("IHDR", header),
    pngChunk("IDAT", data),
    pngChunk("IEND", Buffer.alloc(0)),
  ]);
}

/** Every file under `dir` (relative paths), temporary ones included. */
export async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name).slice(dir.length + 1))
    .sort();
}
