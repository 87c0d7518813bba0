import type { Platform } from "../../platform/platform.js";
import type { FeatureModule } from "../feature-module.js";
import { DELETE_FILE_OBJECTS_JOB, deleteObjectsHandler } from "./delete-objects.job.js";
import { filesAdminRoutes } from "./files.admin.routes.js";
import { createFilesRepository } from "./files.repository.js";
import { filesRoutes } from "./files.routes.js";
import { createFilesService, type FilesService } from "./files.service.js";
import { FILE_THUMBNAIL_JOB, thumbnailHandler } from "./thumbnail.job.js";

export interface FilesModuleDeps
  extends Pick<Platform, "config" | "database" | "jobs" | "storage" | "images"> {
  /** The posts that listed a deleted file changed: records their events in its transaction. */
  postsChanged: NonNullable<Parameters<typeof createFilesService>[0]["postsChanged"]>;
  /** Drops the cached copies of those posts once the deletion committed. */
  invalidatePosts(postIds: number[]): Promise<void>;
  /** Called once a write committed live events, so they go out at once. */
  afterEventsCommitted(): void;
}

/** Uploads, downloads and thumbnails. */
export function createFilesModule(deps: FilesModuleDeps) {
  const { config, storage } = deps;
  const filesRepository = createFilesRepository(deps.database.db, (executor, job) =>
    deps.jobs.record(executor, job),
  );
  const uncachedFilesService = createFilesService({
    filesRepository,
    storage,
    config: config.uploads,
    // Posts that listed a deleted file changed: live clients hear post.updated.
    postsChanged: deps.postsChanged,
  });
  // A deleted file leaves the posts that listed it: their cached copies go too.
  const filesService: FilesService = {
    ...uncachedFilesService,
    async deleteFile(actor, id) {
      const postIds = await uncachedFilesService.deleteFile(actor, id);
      await deps.invalidatePosts(postIds);
      if (postIds.length > 0) deps.afterEventsCommitted();
      return postIds;
    },
  };
  return {
    routes: async (api) => {
      await api.register(filesRoutes, { filesService, config: config.uploads });
      await api.register(filesAdminRoutes, { filesRepository });
    },
    jobs: {
      [FILE_THUMBNAIL_JOB]: thumbnailHandler({ filesRepository, storage, images: deps.images }),
      [DELETE_FILE_OBJECTS_JOB]: deleteObjectsHandler({ storage }),
    },
    services: {},
  } satisfies FeatureModule<object>;
}
