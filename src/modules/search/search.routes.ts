import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { FastifyRequest } from "fastify";
import { ProblemRef, problemCodes } from "../../http/openapi.js";
import { optionalAuth } from "../auth/auth.plugin.js";
import { toSearchHitResponse } from "./search.mappers.js";
import {
  SearchPageSchema,
  SearchQuerySchema,
  SuggestionListSchema,
  SuggestQuerySchema,
} from "./search.schemas.js";
import type { SearchService } from "./search.service.js";

/** Whose share of concurrent searches a request counts against: the user, else the address. */
const searchClientOf = (request: FastifyRequest) =>
  request.principal ? `user:${request.principal.userId}` : `address:${request.ip}`;

/** Both operations go through the same admission and timeout. */
const SEARCH_CODES = problemCodes({ 429: ["too_many_searches"], 503: ["search_busy", "search_timeout"] });

const OVERLOAD_DESCRIPTION =
  "503 (`search_busy`: every search slot and queue place is taken; `search_timeout`: the search ran " +
  "past `SEARCH_TIMEOUT_MS` and was stopped; `database_busy`) and 429 (`too_many_searches`: this " +
  "client already runs `SEARCH_CONCURRENCY_PER_CLIENT` searches) carry `Retry-After` in seconds.";

export const searchRoutes: FastifyPluginAsyncTypebox<{ searchService: SearchService }> = async (
  app,
  { searchService },
) => {
  app.get(
    "/search/posts",
    {
      schema: {
        tags: ["search"],
        operationId: "searchPosts",
        summary: "Full-text search of posts, best match first",
        description:
          "Matches titles, content and tags (English stemming, stop words ignored). Results are ordered by " +
          "relevance (`rank`), then newest first, and paginated with `next_cursor`. Each item is a post as " +
          "in `GET /posts` plus `rank` and `highlight`: escaped HTML whose only markup is " +
          "`<mark>`…`</mark>` around matched words, safe to insert into a page as is.\n\n" +
          "A query matching more than `SEARCH_RANK_WINDOW` posts (default 10,000) ranks only its newest " +
          "`SEARCH_RANK_WINDOW` matches: older matches of such a broad query are not returned. A narrower " +
          "query ranks every match. A quoted phrase is looked for in the newest `SEARCH_RANK_WINDOW` posts " +
          "that have all its words, so a phrase of words that are each in many posts finds only its recent " +
          "matches.\n\n" +
          "Typos: when the query finds nothing, its misspelt words are corrected from post titles and the " +
          "search runs once more. Each word of 5 letters or more may have one typo (a letter added, missing, " +
          "replaced, or two neighbours swapped), each of 9 or more two; shorter words and excluded (`-word`) " +
          "words are kept. The answer then has `did_you_mean`, the corrected query its items (and " +
          "`next_cursor`) belong to: pass it as `q` for the next pages.\n\n" +
          OVERLOAD_DESCRIPTION,
        security: optionalAuth,
        querystring: SearchQuerySchema,
        response: { 200: SearchPageSchema, 422: ProblemRef, 429: ProblemRef, 503: ProblemRef },
        ...SEARCH_CODES,
      },
    },
    async (request) => {
      const { q, limit, cursor, author_id, tag } = request.query;
      const page = await searchService.searchPosts(
        {
          q,
          limit,
          ...(cursor !== undefined ? { cursor } : {}),
          ...(author_id !== undefined ? { authorId: author_id } : {}),
          ...(tag !== undefined ? { tag } : {}),
        },
        searchClientOf(request),
      );
      return {
        items: page.items.map(toSearchHitResponse),
        next_cursor: page.nextCursor,
        ...(page.didYouMean !== undefined ? { did_you_mean: page.didYouMean } : {}),
      };
    },
  );

  app.get(
    "/search/suggest",
    {
      schema: {
        tags: ["search"],
        operationId: "suggestPostTitles",
        summary: "Title suggestions while typing",
        description:
          "Posts whose title starts with `q`, has a word starting with `q`, or has every word of `q` despite " +
          "typos, best first. Typos are counted per word, as Meilisearch and Typesense do: a word of 5 letters " +
          "or more may have one (a letter added, missing, replaced, or two neighbours swapped), a word of 9 or " +
          "more two, shorter words none; the last word may be unfinished. Titles are plain text: escape them " +
          "when rendering.\n\n" +
          "Suggestions share the limits of search: " +
          OVERLOAD_DESCRIPTION,
        security: optionalAuth,
        querystring: SuggestQuerySchema,
        response: { 200: SuggestionListSchema, 422: ProblemRef, 429: ProblemRef, 503: ProblemRef },
        ...SEARCH_CODES,
      },
    },
    async (request) => ({
      items: await searchService.suggestTitles(request.query, searchClientOf(request)),
    }),
  );
};
