import type { JobHandler, JobRequest } from "../../platform/jobs/index.js";
import type { ObjectStorage } from "../../platform/storage/index.js";
import type { StoredFile } from "./files.repository.js";
import { thumbnailKeyOf } from "./thumbnail.job.js";

export const DELETE_FILE_OBJECTS_JOB = "files.delete_objects";

/**
 * Recorded in the transaction that deletes a file's row, so its bytes are removed exactly
 * when the deletion commits — even if the process stops right after. The thumbnail's key is
 * derived from the file, so it is removed too even if its job finished after the deletion.
 */
export const deleteObjectsJob = (file: StoredFile): JobRequest => ({
  name: DELETE_FILE_OBJECTS_JOB,
  data: { keys: [file.storageKey, thumbnailKeyOf(file)] },
});

/** Deleting an absent object is not an error, so running twice is harmless. */
export function deleteObjectsHandler(deps: { storage: ObjectStorage }): JobHandler {
  return async (data) => {
    const keys = Array.isArray(data.keys) ? data.keys.filter((key) => typeof key === "string") : [];
    for (const key of keys) await deps.storage.delete(key);
  };
}
