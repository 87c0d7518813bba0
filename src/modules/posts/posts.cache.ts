import type { ReadThroughCache } from "../../platform/cache/read-through.js";
import type { PostWithAuthor } from "./posts.repository.js";
import type { PostPage, PostsService } from "./posts.service.js";

/** The page size clients get by default; only that first page of the feed is cached. */
export const DEFAULT_PAGE_SIZE = 20;

export const postKey = (id: number) => `post:${id}`;
export const FEED_FIRST_PAGE_KEY = `feed:first:${DEFAULT_PAGE_SIZE}`;

const revivePost = (post: PostWithAuthor): PostWithAuthor => ({
  ...post,
  createdAt: new Date(post.createdAt),
  updatedAt: new Date(post.updatedAt),
});

/**
 * The posts service with its hot reads cached: single posts and the feed's first page.
 * Every write invalidates what it changes once it has committed (and before the response
 * goes out), so a read through any instance after the write sees the new state.
 */
export function withPostsCache(
  service: PostsService,
  cache: ReadThroughCache,
  postIdsByAuthor: (authorId: number) => Promise<number[]>,
): PostsService & {
  invalidateAuthor(authorId: number): Promise<void>;
  invalidatePosts(postIds: number[]): Promise<void>;
} {
  return {
    ...service,

    getPost: (id) => cache.get(postKey(id), () => service.getPost(id), revivePost) as Promise<PostWithAuthor>,

    async listPosts(input) {
      const firstPage =
        input.cursor === undefined &&
        input.authorId === undefined &&
        input.tag === undefined &&
        input.limit === DEFAULT_PAGE_SIZE;
      if (!firstPage) return service.listPosts(input);
      return cache.get(
        FEED_FIRST_PAGE_KEY,
        () => service.listPosts(input),
        (page: PostPage) => ({
          ...page,
          items: page.items.map(revivePost),
        }),
      ) as Promise<PostPage>;
    },

    async createPost(actor, input) {
      const post = await service.createPost(actor, input);
      await cache.invalidate(FEED_FIRST_PAGE_KEY);
      return post;
    },

    async updatePost(actor, id, input) {
      const post = await service.updatePost(actor, id, input);
      await cache.invalidate(postKey(id), FEED_FIRST_PAGE_KEY);
      return post;
    },

    async deletePost(actor, id, moderation) {
      await service.deletePost(actor, id, moderation);
      await cache.invalidate(postKey(id), FEED_FIRST_PAGE_KEY);
    },

    /** Posts list their attachments: after a file is deleted, drop the posts that showed it. */
    async invalidatePosts(postIds) {
      if (postIds.length > 0) await cache.invalidate(FEED_FIRST_PAGE_KEY, ...postIds.map(postKey));
    },

    /** Posts show their author's username: after a rename, drop every cached post of theirs. */
    async invalidateAuthor(authorId) {
      const ids = await postIdsByAuthor(authorId);
      await cache.invalidate(FEED_FIRST_PAGE_KEY, ...ids.map(postKey));
    },
  };
}
