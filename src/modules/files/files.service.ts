import { randomBytes } from "node:crypto";
import { pipeline, type Readable } from "node:stream";
import type { UploadsConfig } from "../../config.js";
import type { ByteRange, ObjectStorage } from "../../platform/storage/index.js";
import {
  BadRequestError,
  DomainError,
  ForbiddenError,
  NotFoundError,
  PayloadTooLargeError,
  UnsupportedMediaTypeError,
} from "../../shared/errors.js";
import type { Actor } from "../posts/posts.service.js";
import { THUMBNAIL_SOURCE_TYPES } from "./content-type.js";
import { deleteObjectsJob } from "./delete-objects.job.js";
import { assertFilenameBounded, sanitizeFilename } from "./filenames.js";
import type { FilesRepository, FileWithVisibility, StoredFile } from "./files.repository.js";
import { thumbnailJob } from "./thumbnail.job.js";
import { UploadInspector } from "./upload-inspector.js";

export interface Upload {
  /** The name the client sent; only a sanitized form of it is kept. */
  filename: string;
  stream: Readable;
  /** Resolves once the request's body has ended after the file; rejects if more follows. */
  ended?: () => Promise<void>;
}

const newStorageKey = () => randomBytes(16).toString("hex");
const MIB = 1024 * 1024;
const inMiB = (bytes: number) => `${Math.round((bytes / MIB) * 10) / 10} MiB`;

export function createFilesService(deps: {
  filesRepository: FilesRepository;
  storage: ObjectStorage;
  config: UploadsConfig;
  /** Called in the deletion's transaction with the posts that listed a deleted file. */
  postsChanged?: Parameters<FilesRepository["delete"]>[2];
}) {
  const { filesRepository, storage, config } = deps;
  const allowed = new Set(config.allowedTypes);

  const quotaExceeded = () =>
    new PayloadTooLargeError(
      "quota_exceeded",
      `This upload would take your files past your quota of ${inMiB(config.quotaBytes)}; delete some first`,
    );

  /**
   * Who may read a file: anyone once a post shows it; before that its owner and admins.
   * Others are told it does not exist, so private files do not reveal themselves.
   */
  async function findReadable(viewer: Actor | null, id: number): Promise<FileWithVisibility> {
    const file = await filesRepository.findWithVisibility(id);
    const mayRead =
      file && (file.attached || (viewer && (viewer.userId === file.ownerId || viewer.role === "admin")));
    if (!file || !mayRead) throw new NotFoundError(`File ${id} not found`, "file_not_found");
    return file;
  }

  return {
    /**
     * Streams the upload through the inspector (size limit, quota, type, hash) into storage
     * under a generated key, then records the file — and, for images, its thumbnail job — in
     * one transaction. Whatever fails, no bytes are left behind.
     */
    async upload(actor: Actor, upload: Upload): Promise<StoredFile> {
      assertFilenameBounded(upload.filename);
      const remaining = config.quotaBytes - (await filesRepository.usedBytes(actor.userId));
      if (remaining <= 0) throw quotaExceeded();
      let filename = "";
      const inspector = new UploadInspector({
        limit: Math.min(config.maxBytes, remaining),
        tooLarge: () =>
          config.maxBytes <= remaining
            ? new PayloadTooLargeError("file_too_large", `Files may be at most ${config.maxBytes} bytes`)
            : quotaExceeded(),
        empty: () => new BadRequestError("empty_file", "The file is empty"),
        onType: (type) => {
          if (!allowed.has(type.mime)) {
            throw new UnsupportedMediaTypeError(
              "unsupported_file_type",
              `Files of type ${type.mime} are not accepted; allowed: ${config.allowedTypes.join(", ")}`,
            );
          }
          filename = sanitizeFilename(upload.filename, type);
        },
      });
      const key = newStorageKey();
      // `pipeline` puts an error listener on both streams before a byte flows and destroys
      // both when either fails: a refusal raised while storage is still opening its file, or
      // a client that goes away mid-upload, can never become an unhandled 'error' event.
      // Storage sees the failure through the inspector and removes what it wrote; the
      // inspector's own error (type, size, emptiness) is the one worth reporting.
      const inspected = pipeline(upload.stream, inspector, () => {});
      try {
        await storage.put(key, inspected);
      } catch (error) {
        if (inspector.errored instanceof DomainError) throw inspector.errored;
        // The multipart stream failed: the client stopped sending, or sent a broken body.
        if (upload.stream.errored) {
          throw new BadRequestError("upload_incomplete", "The upload ended before the file was complete");
        }
        throw error;
      }
      const contentType = inspector.type?.mime ?? "application/octet-stream";
      try {
        await upload.ended?.();
        const saved = await filesRepository.insertWithinQuota(
          {
            ownerId: actor.userId,
            storageKey: key,
            filename,
            contentType,
            size: inspector.size,
            sha256: inspector.sha256,
          },
          config.quotaBytes,
          (file) => (THUMBNAIL_SOURCE_TYPES.has(file.contentType) ? [thumbnailJob(file)] : []),
        );
        if (!saved) throw quotaExceeded();
        return saved;
      } catch (error) {
        await storage.delete(key);
        throw error;
      }
    },

    /** The file's record, if `viewer` may read it. */
    getFile: findReadable,

    /** The file's bytes (or a range of them) for a file `getFile` returned. */
    openContent(file: StoredFile, range?: ByteRange): Promise<Readable> {
      return storage.get(file.storageKey, range);
    },

    /** The thumbnail's key and size, once the thumbnail job has made one. */
    async getThumbnail(viewer: Actor | null, id: number) {
      const file = await findReadable(viewer, id);
      if (!file.thumbnailKey || file.thumbnailSize === null) {
        throw new NotFoundError(`File ${id} has no thumbnail (yet)`, "thumbnail_not_found");
      }
      return { file, open: () => storage.get(file.thumbnailKey as string), size: file.thumbnailSize };
    },

    /**
     * The owner or an admin deletes a file; it disappears from every post showing it. Anyone
     * else gets 404 for a private file and 403 for a public one (which they can see anyway).
     * Returns the ids of the posts that showed it.
     */
    async deleteFile(actor: Actor, id: number): Promise<number[]> {
      const file = await findReadable(actor, id);
      if (file.ownerId !== actor.userId && actor.role !== "admin") {
        throw new ForbiddenError("Only the owner or an admin may delete this file", "not_file_owner");
      }
      const deleted = await filesRepository.delete(id, deleteObjectsJob, deps.postsChanged);
      return deleted?.postIds ?? [];
    },
  };
}

export type FilesService = ReturnType<typeof createFilesService>;
