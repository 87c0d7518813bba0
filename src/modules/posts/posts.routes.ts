import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { ProblemRef } from "../../http/openapi.js";
import type { PostWithAuthor } from "./posts.repository.js";
import { PostId, PostListQuerySchema, PostPageSchema, PostSchema } from "./posts.schemas.js";
import type { PostsService } from "./posts.service.js";

export const toPostResponse = (post: PostWithAuthor) => ({
  id: post.id,
  title: post.title,
  content: post.content,
  tags: post.tags,
  author: post.author,
  // Attachments are stored by the files module; until a post has some, the list is empty.
  attachments: [],
  created_at: post.createdAt.toISOString(),
  updated_at: post.updatedAt.toISOString(),
});

export const postsRoutes: FastifyPluginAsyncTypebox<{ postsService: PostsService }> = async (
  app,
  { postsService },
) => {
  app.get(
    "/posts",
    {
      schema: {
        tags: ["posts"],
        summary: "List posts, newest first",
        querystring: PostListQuerySchema,
        response: { 200: PostPageSchema, 422: ProblemRef },
      },
    },
    async (request) => {
      const { limit, cursor, author_id, tag } = request.query;
      const page = await postsService.listPosts({
        limit,
        ...(cursor !== undefined ? { cursor } : {}),
        ...(author_id !== undefined ? { authorId: author_id } : {}),
        ...(tag !== undefined ? { tag } : {}),
      });
      return { items: page.items.map(toPostResponse), next_cursor: page.nextCursor };
    },
  );

  app.get(
    "/posts/:id",
    {
      schema: {
        tags: ["posts"],
        summary: "One post",
        params: Type.Object({ id: PostId }),
        response: { 200: PostSchema, 404: ProblemRef, 422: ProblemRef },
      },
    },
    async (request) => toPostResponse(await postsService.getPost(request.params.id)),
  );
};
