import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { ProblemRef } from "../../http/openapi.js";
import { decodeCursor, isIdCursor } from "../../shared/cursor.js";
import { fetchPage } from "../../shared/paging.js";
import { requireAuth } from "../auth/auth.plugin.js";
import type { FilesRepository } from "./files.repository.js";

const AdminFileSchema = Type.Object(
  {
    id: Type.Integer(),
    filename: Type.String(),
    content_type: Type.String(),
    size: Type.Integer({ description: "Bytes" }),
    owner: Type.Object({ id: Type.Integer(), username: Type.String() }),
    has_thumbnail: Type.Boolean(),
    created_at: Type.String({ format: "date-time" }),
  },
  { title: "AdminFile" },
);

const AdminFilePageSchema = Type.Object(
  { items: Type.Array(AdminFileSchema), next_cursor: Type.Union([Type.String(), Type.Null()]) },
  { title: "AdminFilePage" },
);

const AdminFileQuerySchema = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);

/** Every uploaded file with its size and owner, for admins watching storage. */
export const filesAdminRoutes: FastifyPluginAsyncTypebox<{ filesRepository: FilesRepository }> = async (
  app,
  { filesRepository },
) => {
  app.get(
    "/admin/files",
    {
      schema: {
        tags: ["admin"],
        operationId: "listAllFiles",
        summary: "Every user's files, newest first (admin)",
        security: requireAuth("admin"),
        querystring: AdminFileQuerySchema,
        response: { 200: AdminFilePageSchema, 422: ProblemRef },
      },
    },
    async (request) => {
      const { limit, cursor } = request.query;
      const beforeId = cursor ? decodeCursor(cursor, isIdCursor)[0] : undefined;
      const page = await fetchPage(
        limit,
        (take) => filesRepository.listForAdmin(beforeId, take),
        (last) => [last.id],
      );
      return {
        items: page.items.map((file) => ({
          id: file.id,
          filename: file.filename,
          content_type: file.contentType,
          size: file.size,
          owner: { id: file.ownerId, username: file.ownerUsername },
          has_thumbnail: file.thumbnailKey !== null,
          created_at: file.createdAt.toISOString(),
        })),
        next_cursor: page.nextCursor,
      };
    },
  );
};
