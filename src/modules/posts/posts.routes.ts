import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { ProblemRef, problemCodes } from "../../http/openapi.js";
import { securityLogFor } from "../../http/security-log.js";
import { principalOf, requireAuth } from "../auth/auth.plugin.js";
import { toPostResponse } from "./posts.mappers.js";
import {
  PostCreateSchema,
  PostDeleteQuerySchema,
  PostIdParamsSchema,
  PostListQuerySchema,
  PostPageSchema,
  PostSchema,
  PostUpdateSchema,
} from "./posts.schemas.js";
import type { PostsService } from "./posts.service.js";

export const postsRoutes: FastifyPluginAsyncTypebox<{ postsService: PostsService }> = async (
  app,
  { postsService },
) => {
  app.get(
    "/posts",
    {
      schema: {
        tags: ["posts"],
        operationId: "listPosts",
        summary: "List posts, newest first",
        security: [],
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
        operationId: "getPost",
        summary: "One post",
        security: [],
        params: PostIdParamsSchema,
        response: { 200: PostSchema, 404: ProblemRef, 422: ProblemRef },
        ...problemCodes({ 404: ["post_not_found"] }),
      },
    },
    async (request) => toPostResponse(await postsService.getPost(request.params.id)),
  );

  app.post(
    "/posts",
    {
      schema: {
        tags: ["posts"],
        operationId: "createPost",
        summary: "Write a post",
        security: requireAuth("posts:write"),
        body: PostCreateSchema,
        response: { 201: PostSchema, 422: ProblemRef },
        ...problemCodes({ 422: ["invalid_attachment"] }),
      },
    },
    async (request, reply) => {
      const { attachment_ids, ...fields } = request.body;
      const post = await postsService.createPost(principalOf(request), {
        ...fields,
        ...(attachment_ids !== undefined ? { attachmentIds: attachment_ids } : {}),
      });
      return reply.code(201).send(toPostResponse(post));
    },
  );

  app.patch(
    "/posts/:id",
    {
      schema: {
        tags: ["posts"],
        operationId: "updatePost",
        summary: "Edit a post (its author or an admin)",
        security: requireAuth("posts:write"),
        params: PostIdParamsSchema,
        body: PostUpdateSchema,
        response: { 200: PostSchema, 403: ProblemRef, 404: ProblemRef, 422: ProblemRef },
        ...problemCodes({ 403: ["not_post_author"], 404: ["post_not_found"], 422: ["invalid_attachment"] }),
      },
    },
    async (request) => {
      const { attachment_ids, ...fields } = request.body;
      const post = await postsService.updatePost(principalOf(request), request.params.id, {
        ...fields,
        ...(attachment_ids !== undefined ? { attachmentIds: attachment_ids } : {}),
      });
      return toPostResponse(post);
    },
  );

  app.delete(
    "/posts/:id",
    {
      schema: {
        tags: ["posts"],
        operationId: "deletePost",
        summary: "Delete a post (its author or an admin)",
        description:
          "An admin deleting another user's post moderates it: the deletion is recorded as the " +
          "security event `post.moderated` with the admin, the author and `reason` " +
          "(see GET /api/v1/admin/security-events).",
        security: requireAuth("posts:write"),
        params: PostIdParamsSchema,
        querystring: PostDeleteQuerySchema,
        response: { 204: Type.Null(), 403: ProblemRef, 404: ProblemRef, 422: ProblemRef },
        ...problemCodes({ 403: ["not_post_author"], 404: ["post_not_found"] }),
      },
    },
    async (request, reply) => {
      await postsService.deletePost(principalOf(request), request.params.id, {
        reason: request.query.reason,
        log: securityLogFor(request),
      });
      return reply.code(204).send(null);
    },
  );
};
