import type { PostWithAuthor } from "./posts.repository.js";

/** The public representation of a post: API responses and live events alike. */
export const toPostResponse = (post: PostWithAuthor) => ({
  id: post.id,
  title: post.title,
  content: post.content,
  tags: post.tags,
  author: post.author,
  attachments: post.attachments.map((file) => ({
    id: file.id,
    filename: file.filename,
    content_type: file.contentType,
    size: file.size,
  })),
  created_at: post.createdAt.toISOString(),
  updated_at: post.updatedAt.toISOString(),
});
