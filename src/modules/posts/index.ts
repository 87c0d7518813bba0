import type { Platform } from "../../platform/platform.js";
import type { FeatureModule } from "../feature-module.js";
import { withPostsCache } from "./posts.cache.js";
import { toPostResponse } from "./posts.mappers.js";
import { createPostsRepository, type PostsRepository } from "./posts.repository.js";
import { postsRoutes } from "./posts.routes.js";
import { createPostsService } from "./posts.service.js";

export interface PostsModuleDeps extends Pick<Platform, "database" | "readThrough"> {
  /** Called once a write committed live events, so they go out at once. */
  afterEventsCommitted(): void;
}

/** The community feed. */
export function createPostsModule(deps: PostsModuleDeps) {
  const postsRepository = createPostsRepository(deps.database);
  const postsService = withPostsCache(
    createPostsService({ postsRepository, afterEventsCommitted: deps.afterEventsCommitted }),
    deps.readThrough("posts"),
    (authorId) => postsRepository.idsByAuthor(authorId),
  );
  return {
    routes: async (api) => {
      await api.register(postsRoutes, { postsService });
    },
    services: {
      invalidateAuthor: (authorId: number) => postsService.invalidateAuthor(authorId),
      invalidatePosts: (postIds: number[]) => postsService.invalidatePosts(postIds),
      /** Records post.updated for each post in `postIds`, inside the caller's transaction. */
      recordPostsChanged: (tx: Parameters<PostsRepository["recordChanged"]>[0], postIds: number[]) =>
        postsRepository.recordChanged(tx, postIds, (saved) => ({
          topic: "post.updated",
          userId: null,
          payload: toPostResponse(saved),
        })),
    },
  } satisfies FeatureModule<object>;
}

export type PostsModule = ReturnType<typeof createPostsModule>;
