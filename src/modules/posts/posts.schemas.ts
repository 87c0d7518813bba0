import { Type } from "typebox";

export const PostId = Type.Integer({ minimum: 1, maximum: 2_147_483_647, description: "Post id" });

export const PostSchema = Type.Object(
  {
    id: Type.Integer(),
    title: Type.String(),
    content: Type.String(),
    tags: Type.Array(Type.String()),
    author: Type.Object({ id: Type.Integer(), username: Type.String() }),
    attachments: Type.Array(Type.Object({ id: Type.Integer() }), {
      description: "Files attached to the post",
    }),
    created_at: Type.String({ format: "date-time" }),
    updated_at: Type.String({ format: "date-time" }),
  },
  { title: "Post" },
);

export const PostListQuerySchema = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
    cursor: Type.Optional(Type.String({ maxLength: 200, description: "`next_cursor` of the previous page" })),
    author_id: Type.Optional(Type.Integer({ minimum: 1, maximum: 2_147_483_647 })),
    tag: Type.Optional(Type.String({ minLength: 1, maxLength: 50 })),
  },
  { additionalProperties: false },
);

export const PostPageSchema = Type.Object(
  {
    items: Type.Array(PostSchema),
    next_cursor: Type.Union([Type.String(), Type.Null()], {
      description: "Pass as `cursor` for the next page",
    }),
  },
  { title: "PostPage" },
);
