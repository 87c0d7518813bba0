import { randomUUID } from "node:crypto";
import { mkdir, open, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { assertValidKey, type ByteRange, ObjectNotFoundError, type ObjectStorage } from "./storage.js";

/**
 * Objects as files under one directory. Keys are spread over 256 sub-directories by their
 * first two characters so no directory grows huge. A write goes to `.tmp/` on the same file
 * system and is renamed into place only when complete: readers never see a partial object,
 * and a failed upload leaves nothing behind. Several processes may share the directory
 * (e.g. a network file system mounted by API and worker machines).
 */
export function createLocalStorage(root: string): ObjectStorage {
  const tmpDir = join(root, ".tmp");
  // Created on the first write, so merely opening the storage touches no disk.
  let tmpReady: Promise<unknown> | undefined;
  const ensureTmpDir = () => {
    tmpReady ??= mkdir(tmpDir, { recursive: true }).catch((error: unknown) => {
      tmpReady = undefined;
      throw error;
    });
    return tmpReady;
  };

  const pathOf = (key: string) => {
    assertValidKey(key);
    return join(root, key.slice(0, 2), key);
  };

  const isMissing = (error: unknown) => (error as NodeJS.ErrnoException).code === "ENOENT";

  return {
    async put(key, body) {
      const target = pathOf(key);
      const temporary = join(tmpDir, `${randomUUID()}.part`);
      // Opened before any byte flows, so the file exists by the time the body can fail and the
      // clean-up below always finds it (a stream that opens lazily could create it after `rm`).
      // A body that has already failed is still passed on: pipeline rejects with its error.
      let handle: Awaited<ReturnType<typeof open>>;
      try {
        await ensureTmpDir();
        handle = await open(temporary, "wx", 0o600);
      } catch (error) {
        body.destroy();
        throw error;
      }
      try {
        // `flush` fsyncs before close: a crash never leaves a renamed but empty file.
        await pipeline(body, handle.createWriteStream({ flush: true }));
        const { size } = await stat(temporary);
        await mkdir(join(root, key.slice(0, 2)), { recursive: true });
        await rename(temporary, target);
        return { size };
      } catch (error) {
        await rm(temporary, { force: true });
        throw error;
      }
    },

    async get(key, range?: ByteRange) {
      // Opening first turns a missing object into an error here, not a stream error later.
      let handle: Awaited<ReturnType<typeof open>>;
      try {
        handle = await open(pathOf(key), "r");
      } catch (error) {
        if (isMissing(error)) throw new ObjectNotFoundError(key);
        throw error;
      }
      return handle.createReadStream(range ? { start: range.start, end: range.end } : {}) as Readable;
    },

    async stat(key) {
      try {
        return { size: (await stat(pathOf(key))).size };
      } catch (error) {
        if (isMissing(error)) return undefined;
        throw error;
      }
    },

    async delete(key) {
      await rm(pathOf(key), { force: true });
    },
  };
}
