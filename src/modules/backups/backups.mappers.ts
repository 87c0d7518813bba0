import type { BackupFile } from "./backup.service.js";

export const toBackupResponse = (file: BackupFile) => ({
  name: file.name,
  size: file.size,
  created_at: file.createdAt.toISOString(),
});
