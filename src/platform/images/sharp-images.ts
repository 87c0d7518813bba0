import type { Readable } from "node:stream";
import { loadDriver } from "../drivers.js";
import { type ImageProcessor, UndecodableImageError } from "./images.js";

/** The image port on sharp (libvips): streams the input, decodes it once, never fully buffers it. */
export function createSharpImageProcessor(): ImageProcessor {
  return {
    async thumbnail(input: Readable, options) {
      const sharp = loadDriver<typeof import("sharp")["default"]>("sharp");
      const transformer = sharp({
        limitInputPixels: options.maxInputPixels,
        failOn: "error",
        sequentialRead: true,
      })
        .rotate() // honour EXIF orientation; the output carries no metadata
        .resize(options.maxSide, options.maxSide, { fit: "inside", withoutEnlargement: true })
        .webp({ quality: options.quality });
      let readError: unknown;
      input.on("error", (error) => {
        readError = error;
        transformer.destroy(error);
      });
      input.pipe(transformer);
      try {
        return await transformer.toBuffer();
      } catch (error) {
        if (readError) throw readError;
        throw new UndecodableImageError(`image could not be decoded: ${(error as Error).message}`, {
          cause: error,
        });
      } finally {
        input.destroy();
      }
    },
  };
}
