import type { Readable } from "node:stream";

export interface ThumbnailOptions {
  /** The preview fits in this square, keeping the aspect ratio; it is never enlarged. */
  maxSide: number;
  /**
   * Largest image decoded, in pixels: a small file that claims huge dimensions (a
   * decompression bomb) fails instead of exhausting memory.
   */
  maxInputPixels: number;
  /** WebP quality, 1–100. */
  quality: number;
}

/** The bytes are not an image the decoder accepts; they will not change, so retrying cannot help. */
export class UndecodableImageError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "UndecodableImageError";
  }
}

/** The image port: what Kaira does to pictures, without naming the library that does it. */
export interface ImageProcessor {
  /**
   * A WebP preview of the image read from `input`, turned upright by its EXIF orientation and
   * without metadata. Rejects with UndecodableImageError when the bytes cannot be decoded,
   * and with the stream's own error when reading `input` fails. `input` is destroyed either way.
   */
  thumbnail(input: Readable, options: ThumbnailOptions): Promise<Buffer>;
}
