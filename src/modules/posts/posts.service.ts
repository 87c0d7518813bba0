import { NotFoundError } from "../../http/errors.js";
import { decodeCursor, encodeCursor } from "../../shared/cursor.js";
import type { PostsRepository, PostWithAuthor } from "./posts.repository.js";

export interface ListPostsInput {
  limit: number;
  cursor?: string;
  authorId?: number;
  tag?: string;
}

export interface PostPage {
  items: PostWithAuthor[];
  nextCursor: string | null;
}

const isPostCursor = (values: unknown[]): values is [string, number] =>
  values.length === 2 &&
  typeof values[0] === "string" &&
  !Number.isNaN(Date.parse(values[0])) &&
  Number.isInteger(values[1]) &&
  (values[1] as number) > 0 &&
  (values[1] as number) <= 2_147_483_647;

export function createPostsService({ postsRepository }: { postsRepository: PostsRepository }) {
  return {
    async listPosts({ limit, cursor, authorId, tag }: ListPostsInput): Promise<PostPage> {
      const after = cursor ? decodeCursor(cursor, isPostCursor) : undefined;
      // One extra row tells whether another page exists without a count query.
      const rows = await postsRepository.listByCursor({
        limit: limit + 1,
        ...(after ? { after: { createdAt: after[0], id: after[1] } } : {}),
        ...(authorId !== undefined ? { authorId } : {}),
        ...(tag !== undefined ? { tag } : {}),
      });
      const items = rows.slice(0, limit);
      const last = items.at(-1);
      const nextCursor =
        rows.length > limit && last ? encodeCursor([last.createdAt.toISOString(), last.id]) : null;
      return { items, nextCursor };
    },

    async getPost(id: number): Promise<PostWithAuthor> {
      const post = await postsRepository.findById(id);
      if (!post) throw new NotFoundError(`Post ${id} not found`, "post_not_found");
      return post;
    },
  };
}

export type PostsService = ReturnType<typeof createPostsService>;
