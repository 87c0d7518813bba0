import { Type } from "typebox";

export const PostId = Type.Integer({ minimum: 1, maximum: 2_147_483_647, description: "Post id" });

/** What a post shows of each attached file. */
export const AttachmentSchema = Type.Object(
  {
    id: Type.Integer(),
    filename: Type.String(),
    content_type: Type.String(),
    size: Type.Integer(),
  },
  { title: "Attachment" },
);

export const PostSchema = Type.Object(
  {
    id: Type.Integer(),
    title: Type.String(),
    content: Type.String(),
    tags: Type.Array(Type.String()),
    author: Type.Object({ id: Type.Integer(), username: Type.String() }),
    attachments: Type.Array(AttachmentSchema, {
      description: "Files attached to the post, in order; download them at /api/v1/files/{id}",
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

const Tag = Type.String({
  minLength: 1,
  maxLength: 50,
  pattern: "^[^\\s,]+$",
  description: "One word; stored lower-case",
});
const Tags = Type.Array(Tag, { maxItems: 20 });

/** Most files one post shows. */
export const MAX_ATTACHMENTS = 10;
const AttachmentIds = Type.Array(Type.Integer({ minimum: 1, maximum: 2_147_483_647 }), {
  maxItems: MAX_ATTACHMENTS,
  uniqueItems: true,
  description:
    "Ids of the author's own uploaded files, in display order; on an edit the list replaces the previous one ([] removes all)",
});

export const PostCreateSchema = Type.Object(
  {
    title: Type.String({ minLength: 1, maxLength: 200 }),
    content: Type.String({ maxLength: 100_000 }),
    tags: Type.Optional(Tags),
    attachment_ids: Type.Optional(AttachmentIds),
  },
  { additionalProperties: false, title: "PostCreate" },
);

export const PostUpdateSchema = Type.Object(
  {
    title: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    content: Type.Optional(Type.String({ maxLength: 100_000 })),
    tags: Type.Optional(Tags),
    attachment_ids: Type.Optional(AttachmentIds),
  },
  { additionalProperties: false, minProperties: 1, title: "PostUpdate" },
);

export const PostIdParamsSchema = Type.Object({ id: PostId });

export const PostDeleteQuerySchema = Type.Object(
  {
    reason: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 500,
        description: "Why an admin removes another user's post; kept in the security events",
      }),
    ),
  },
  { additionalProperties: false },
);
