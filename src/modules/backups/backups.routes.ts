import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { join } from "node:path";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { BackupsConfig } from "../../config.js";
import { ProblemRef, problemCodes } from "../../http/openapi.js";
import { securityLogFor } from "../../http/security-log.js";
import type { Db } from "../../platform/database/index.js";
import type { JobQueue } from "../../platform/jobs/index.js";
import { NotFoundError } from "../../shared/errors.js";
import { principalOf, requireAuth } from "../auth/auth.plugin.js";
import { BACKUP_JOB } from "./backup.job.js";
import { BACKUP_FILE_PATTERN, backupFileName, listBackups } from "./backup.service.js";
import { toBackupResponse } from "./backups.mappers.js";
import {
  BackupArchiveResponse,
  BackupListSchema,
  BackupNameParamsSchema,
  BackupStartedSchema,
} from "./backups.schemas.js";

export const backupsRoutes: FastifyPluginAsyncTypebox<{
  config: BackupsConfig;
  jobs: JobQueue;
  db: Db;
}> = async (app, { config, jobs, db }) => {
  app.get(
    "/admin/backups",
    {
      schema: {
        tags: ["admin"],
        operationId: "listBackups",
        summary: "Backups in BACKUP_DIR, newest first (admin)",
        security: requireAuth("admin"),
        response: { 200: BackupListSchema },
      },
    },
    async () => ({ items: (await listBackups(config.dir)).map(toBackupResponse) }),
  );

  app.post(
    "/admin/backups",
    {
      schema: {
        tags: ["admin"],
        operationId: "createBackup",
        summary: "Start a backup (admin)",
        description:
          "Records a `backup.create` job and answers at once. The archive appears under `name` in the list when the job has completed; a failure shows in `GET /api/v1/admin/jobs?state=failed`.",
        security: requireAuth("admin"),
        response: { 202: BackupStartedSchema },
      },
    },
    async (request, reply) => {
      const name = backupFileName(new Date());
      await jobs.record(db, { name: BACKUP_JOB, data: { file: name } });
      securityLogFor(request)({
        event: "backup.requested",
        file: name,
        actor_id: principalOf(request).userId,
      });
      return reply.code(202).send({ name, job: BACKUP_JOB, state: "waiting" as const });
    },
  );

  app.get(
    "/admin/backups/:name",
    {
      schema: {
        tags: ["admin"],
        operationId: "downloadBackup",
        summary: "Download a backup (admin)",
        description: "Streams the `.tar.gz` archive.",
        security: requireAuth("admin"),
        params: BackupNameParamsSchema,
        response: { 200: BackupArchiveResponse, 404: ProblemRef },
        ...problemCodes({ 404: ["backup_not_found"] }),
      },
    },
    async (request, reply) => {
      const { name } = request.params;
      // Only names Kaira writes: never a path, never a partial archive.
      const info = BACKUP_FILE_PATTERN.test(name)
        ? await stat(join(config.dir, name)).catch(() => undefined)
        : undefined;
      if (!info?.isFile()) throw new NotFoundError(`No backup ${name}`, "backup_not_found");
      const body = createReadStream(join(config.dir, name));
      body.on("error", (error) =>
        request.log.warn(
          { err: error, event: "backup.download_failed", file: name },
          "backup download failed",
        ),
      );
      return reply
        .header("content-type", "application/gzip")
        .header("content-length", info.size)
        .header("content-disposition", `attachment; filename="${name}"`)
        .send(body);
    },
  );
};
