import { Type } from "typebox";
import { BACKUP_JOB } from "./backup.job.js";

export const BackupSchema = Type.Object(
  {
    name: Type.String(),
    size: Type.Integer({ description: "Bytes" }),
    created_at: Type.String({ format: "date-time" }),
  },
  { title: "Backup" },
);

export const BackupListSchema = Type.Object({ items: Type.Array(BackupSchema) }, { title: "BackupList" });

export const BackupStartedSchema = Type.Object(
  { name: Type.String(), job: Type.Literal(BACKUP_JOB), state: Type.Literal("waiting") },
  { title: "BackupStarted" },
);

export const BackupNameParamsSchema = Type.Object({ name: Type.String({ maxLength: 64 }) });

/** The download: a stream, documented for OpenAPI and never serialized. */
export const BackupArchiveResponse = {
  description: "The archive",
  content: { "application/gzip": { schema: { type: "string", format: "binary" } } },
};
