import { Readable } from "node:stream";
import { type ImageProcessor, UndecodableImageError } from "../../platform/images/index.js";
import { type JobHandler, type JobRequest, PermanentJobError } from "../../platform/jobs/index.js";
import { ObjectNotFoundError, type ObjectStorage } from "../../platform/storage/index.js";
import type { FilesRepository, StoredFile } from "./files.repository.js";
import type { FileProcessed } from "./files.schemas.js";

export const FILE_THUMBNAIL_JOB = "files.thumbnail";

/** Thumbnails fit in this square, keeping the aspect ratio (never enlarged). */
export const THUMBNAIL_MAX_SIDE = 320;
/**
 * Largest image decoded, in pixels (about 24 megapixels, ~100 MB decoded): a small file that
 * claims huge dimensions (a decompression bomb) fails instead of exhausting memory.
 */
export const MAX_INPUT_PIXELS = 24_000_000;

export const thumbnailJob = (file: StoredFile): JobRequest => ({
  name: FILE_THUMBNAIL_JOB,
  data: { file_id: file.id },
});

export const thumbnailKeyOf = (file: Pick<StoredFile, "storageKey">) => `${file.storageKey}-thumb`;
export const thumbnailUrlOf = (fileId: number) => `/api/v1/files/${fileId}/thumbnail`;

async function renderThumbnail(images: ImageProcessor, original: Readable): Promise<Buffer> {
  try {
    return await images.thumbnail(original, {
      maxSide: THUMBNAIL_MAX_SIDE,
      maxInputPixels: MAX_INPUT_PIXELS,
      quality: 80,
    });
  } catch (error) {
    // The decoder refused the bytes; they will not change, so neither would a retry. Any
    // other failure (reading from storage) is worth retrying.
    if (error instanceof UndecodableImageError) throw new PermanentJobError(error.message, { cause: error });
    throw error;
  }
}

/**
 * Makes a WebP preview of an uploaded image, stores it under a key derived from the file
 * (a repeated run overwrites the same object), marks the file and tells its owner with a
 * `file.processed` event in the same transaction. Safe to run twice (delivery is at least
 * once); a file deleted meanwhile is left alone. A corrupt or hostile image fails the job for
 * good, without retries, and the file simply has no thumbnail.
 */
export function thumbnailHandler(deps: {
  filesRepository: FilesRepository;
  storage: ObjectStorage;
  images: ImageProcessor;
}): JobHandler {
  const { filesRepository, storage, images } = deps;
  return async (data) => {
    const fileId = Number(data.file_id);
    if (!Number.isInteger(fileId)) throw new PermanentJobError("thumbnail job without a file_id");
    const file = await filesRepository.findById(fileId);
    if (!file || file.thumbnailKey) return;
    let original: Readable;
    try {
      original = await storage.get(file.storageKey);
    } catch (error) {
      // Deleted between the read above and now: nothing left to do.
      if (error instanceof ObjectNotFoundError && !(await filesRepository.findById(fileId))) return;
      throw error;
    }
    const thumbnail = await renderThumbnail(images, original);
    const key = thumbnailKeyOf(file);
    const { size } = await storage.put(key, Readable.from([thumbnail]));
    const marked = await filesRepository.setThumbnail(fileId, { key, size }, (saved) => ({
      topic: "file.processed",
      userId: saved.ownerId,
      payload: {
        id: saved.id,
        thumbnail_url: thumbnailUrlOf(saved.id),
        thumbnail_content_type: "image/webp",
        thumbnail_size: size,
      } satisfies FileProcessed,
    }));
    // The file was deleted while we worked: its cleanup may have run already, so remove ours.
    if (!marked && !(await filesRepository.findById(fileId))) await storage.delete(key);
  };
}
