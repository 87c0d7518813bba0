import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { ProblemRef } from "../../http/openapi.js";
import { toPostResponse } from "../posts/posts.service.js";
import {
  SearchPageSchema,
  SearchQuerySchema,
  SuggestionListSchema,
  SuggestQuerySchema,
} from "./search.schemas.js";
import type { SearchService } from "./search.service.js";

export const searchRoutes: FastifyPluginAsyncTypebox<{ searchService: SearchService }> = async (
  app,
  { searchService },
) => {
  app.get(
    "/search/posts",
    {
      schema: {
        tags: ["search"],
        summary: "Full-text search of posts, best match first",
        description:
          "Matches titles, content and tags (English stemming, stop words ignored). Results are ordered by " +
          "relevance (`rank`), then newest first, and paginated with `next_cursor`. Each item is a post as " +
          "in `GET /posts` plus `rank` and `highlight`: escaped HTML whose only markup is " +
          "`<mark>`…`</mark>` around matched words, safe to insert into a page as is.",
        querystring: SearchQuerySchema,
        response: { 200: SearchPageSchema, 422: ProblemRef },
      },
    },
    async (request) => {
      const { q, limit, cursor, author_id, tag } = request.query;
      const page = await searchService.searchPosts({
        q,
        limit,
        ...(cursor !== undefined ? { cursor } : {}),
        ...(author_id !== undefined ? { authorId: author_id } : {}),
        ...(tag !== undefined ? { tag } : {}),
      });
      return {
        items: page.items.map((hit) => ({
          ...toPostResponse(hit),
          highlight: hit.highlight,
          rank: hit.rank,
        })),
        next_cursor: page.nextCursor,
      };
    },
  );

  app.get(
    "/search/suggest",
    {
      schema: {
        tags: ["search"],
        summary: "Title suggestions while typing",
        description:
          "Posts whose title starts with `q`, has a word starting with `q`, or resembles `q` despite a " +
          "typo or two (trigram similarity), best first. Titles are plain text: escape them when rendering.",
        querystring: SuggestQuerySchema,
        response: { 200: SuggestionListSchema, 422: ProblemRef },
      },
    },
    async (request) => ({ items: await searchService.suggestTitles(request.query) }),
  );
};
