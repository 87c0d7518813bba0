import type { SecurityLog } from "../../http/security-log.js";
import { decodeCursor, isId, isIsoTimestamp } from "../../shared/cursor.js";
import { ForbiddenError, NotFoundError, ValidationFailedError } from "../../shared/errors.js";
import { fetchPage, type Page } from "../../shared/paging.js";
import { toPostResponse } from "./posts.mappers.js";
import { ForeignAttachmentsError, type PostsRepository, type PostWithAuthor } from "./posts.repository.js";

export interface ListPostsInput {
  limit: number;
  cursor?: string;
  authorId?: number;
  tag?: string;
}

export type PostPage = Page<PostWithAuthor>;

const isPostCursor = (values: unknown[]): values is [string, number] =>
  values.length === 2 && isIsoTimestamp(values[0]) && isId(values[1]);

/** Who acts on a post: its author may change it, and so may an admin. */
export interface Actor {
  userId: number;
  role: "user" | "admin";
}

export interface PostInput {
  title?: string;
  content?: string;
  tags?: string[];
  /** Files of the post's author to show, in order; on an edit, replaces the previous list. */
  attachmentIds?: number[];
}

// Tags are matched exactly, so store one spelling: lower-case, each once.
const normalizeTags = (tags: string[]) => [...new Set(tags.map((tag) => tag.toLowerCase()))];

/**
 * Only the author's own files may be attached (on an admin's edit too: attachments are the
 * author's content). Ids of other users' files and unknown ids are refused alike, so the
 * answer does not tell whether someone else's private file exists.
 */
async function withAttachmentCheck<T>(
  attachmentIds: number[] | undefined,
  write: () => Promise<T>,
): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (!(error instanceof ForeignAttachmentsError)) throw error;
    throw new ValidationFailedError(
      error.fileIds.map((id) => ({
        loc: ["body", "attachment_ids", attachmentIds?.indexOf(id) ?? 0],
        msg: `file ${id} is not one of the author's files`,
        type: "invalid_attachment",
      })),
      "invalid_attachment",
    );
  }
}

export function createPostsService({
  postsRepository,
  afterEventsCommitted = () => {},
}: {
  postsRepository: PostsRepository;
  /** Told after a write and its live event committed (the relay sends the event at once). */
  afterEventsCommitted?: () => void;
}) {
  /** The post's author, once the actor may change the post. */
  async function assertMayChange(actor: Actor, postId: number): Promise<number> {
    const authorId = await postsRepository.findAuthorId(postId);
    if (authorId === undefined) throw new NotFoundError(`Post ${postId} not found`, "post_not_found");
    if (authorId !== actor.userId && actor.role !== "admin") {
      throw new ForbiddenError("Only the author or an admin may change this post", "not_post_author");
    }
    return authorId;
  }

  return {
    async listPosts({ limit, cursor, authorId, tag }: ListPostsInput): Promise<PostPage> {
      const after = cursor ? decodeCursor(cursor, isPostCursor) : undefined;
      if (tag !== undefined) tag = tag.toLowerCase();
      return fetchPage(
        limit,
        (take) =>
          postsRepository.listByCursor({
            limit: take,
            ...(after ? { after: { createdAt: after[0], id: after[1] } } : {}),
            ...(authorId !== undefined ? { authorId } : {}),
            ...(tag !== undefined ? { tag } : {}),
          }),
        (last) => [last.createdAt.toISOString(), last.id],
      );
    },

    async getPost(id: number): Promise<PostWithAuthor> {
      const post = await postsRepository.findById(id);
      if (!post) throw new NotFoundError(`Post ${id} not found`, "post_not_found");
      return post;
    },

    async createPost(actor: Actor, input: Required<Pick<PostInput, "title" | "content">> & PostInput) {
      const post = await withAttachmentCheck(input.attachmentIds, () =>
        postsRepository.insert(
          {
            authorId: actor.userId,
            title: input.title,
            content: input.content,
            tags: normalizeTags(input.tags ?? []),
            ...(input.attachmentIds !== undefined ? { attachmentIds: input.attachmentIds } : {}),
          },
          (saved) => ({ topic: "post.created", userId: null, payload: toPostResponse(saved) }),
        ),
      );
      afterEventsCommitted();
      return post;
    },

    async updatePost(actor: Actor, id: number, input: PostInput) {
      await assertMayChange(actor, id);
      const post = await withAttachmentCheck(input.attachmentIds, () =>
        postsRepository.update(
          id,
          {
            ...(input.title !== undefined ? { title: input.title } : {}),
            ...(input.content !== undefined ? { content: input.content } : {}),
            ...(input.tags !== undefined ? { tags: normalizeTags(input.tags) } : {}),
            ...(input.attachmentIds !== undefined ? { attachmentIds: input.attachmentIds } : {}),
          },
          (saved) => ({ topic: "post.updated", userId: null, payload: toPostResponse(saved) }),
        ),
      );
      afterEventsCommitted();
      return post;
    },

    /**
     * Deleting a post detaches its files but keeps them: they stay with their owner (counted
     * in the quota, private again unless another post shows them) until the owner deletes them.
     */
    /**
     * An admin deleting another user's post is moderation: it is recorded as a security event
     * (`post.moderated`) with the admin, the author and the reason given, so it can be audited.
     */
    async deletePost(
      actor: Actor,
      id: number,
      moderation: { reason?: string | undefined; log: SecurityLog },
    ): Promise<void> {
      const authorId = await assertMayChange(actor, id);
      await postsRepository.delete(id, { topic: "post.deleted", userId: null, payload: { id } });
      afterEventsCommitted();
      if (authorId !== actor.userId) {
        moderation.log({
          event: "post.moderated",
          actor_id: actor.userId,
          user_id: authorId,
          post_id: id,
          reason: moderation.reason ?? null,
        });
      }
    },
  };
}

export type PostsService = ReturnType<typeof createPostsService>;
