import type { StoredFile } from "./files.repository.js";

/** The public representation of a file. */
export const toFileResponse = (file: StoredFile) => ({
  id: file.id,
  filename: file.filename,
  content_type: file.contentType,
  size: file.size,
  sha256: file.sha256,
  created_at: file.createdAt.toISOString(),
});
