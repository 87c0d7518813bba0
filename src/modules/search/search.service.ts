import { databaseOverloadOf } from "../../platform/database/index.js";
import { decodeCursor, isId, isIsoTimestamp } from "../../shared/cursor.js";
import { DomainError, retryAfter, ValidationFailedError } from "../../shared/errors.js";
import { fetchPage, type Page } from "../../shared/paging.js";
import type { PostWithAuthor } from "../posts/posts.repository.js";
import { renderHighlight } from "./highlight.js";
import type { SearchRepository, SearchRepositoryRunner, TitleSuggestion } from "./search.repository.js";
import type { SearchAdmission } from "./search-admission.js";
import { correctQuery, titleTypos, typoBudget, typoScore, wordsOf } from "./typo-tolerance.js";

/** The database cut the search off at SEARCH_TIMEOUT_MS. */
export class SearchTimeoutError extends DomainError {
  constructor() {
    super(503, "search_timeout", "The search took too long and was stopped; try again or narrow it", {
      headers: retryAfter(1),
    });
  }
}

export interface SearchServiceDependencies {
  runSearch: SearchRepositoryRunner;
  admission: SearchAdmission;
  /** The whole budget of one search or suggestion, waiting for a slot included. */
  timeoutMs: number;
  onTimeout?: (route: "search" | "suggest") => void;
}

export interface SearchPostsInput {
  q: string;
  limit: number;
  cursor?: string;
  authorId?: number;
  tag?: string;
}

export interface SearchHit extends PostWithAuthor {
  rank: number;
  /** Escaped HTML whose only markup is `<mark>` around matched words. */
  highlight: string;
}

export type SearchPage = Page<SearchHit> & {
  /**
   * Set when the query as typed found nothing and a spelling within the typo rule (see
   * typo-tolerance.ts) did: the items are that query's, and so is `nextCursor`.
   */
  didYouMean?: string;
};

/** How many candidate titles typo-tolerant matching checks, at most, per request. */
const FUZZY_CANDIDATE_CAP = 200;

// [rank, created_at, id]: the rank is the float8 the database compared, so JSON's
// shortest round-trip form of it brings back the very same value.
const isSearchCursor = (values: unknown[]): values is [number, string, number] =>
  values.length === 3 &&
  typeof values[0] === "number" &&
  Number.isFinite(values[0]) &&
  values[0] >= 0 &&
  isIsoTimestamp(values[1]) &&
  isId(values[2]);

// Each `-` in web-search syntax may become a NOT, and PostgreSQL's query parser stacks at most
// 32 unresolved operators: "---…-word" with more fails inside the database. Exclusions only
// come from `-`, so capping the count keeps every query parseable; real queries are far below.
const MAX_DASHES = 32;

function assertParseable(q: string): void {
  let dashes = 0;
  for (const char of q) if (char === "-") dashes += 1;
  if (dashes > MAX_DASHES) {
    throw new ValidationFailedError([
      {
        loc: ["query", "q"],
        msg: `Too many '-' (at most ${MAX_DASHES}, exclusions and hyphens together)`,
        type: "value_error.too_many_exclusions",
      },
    ]);
  }
}

export function createSearchService({
  runSearch,
  admission,
  timeoutMs,
  onTimeout,
}: SearchServiceDependencies) {
  // Up to half the budget may go to waiting for a slot; the statement gets what is left but a
  // tenth of the budget, kept for what surrounds it (the transaction's begin and rollback, the
  // answer), which takes longer on a busy machine: so a search answers, or fails, within
  // timeoutMs.
  const maxWaitMs = Math.floor(timeoutMs / 2);
  const reserveMs = Math.floor(timeoutMs / 10);
  // `budgetMs`: what is left of the request's budget, for a second statement of one request
  // (the typo fallback of a search), which must not get a fresh budget of its own.
  const admitted = <T>(
    route: "search" | "suggest",
    client: string,
    work: (repository: SearchRepository) => Promise<T>,
    budgetMs = timeoutMs,
  ): Promise<T> =>
    admission.run(client, Math.min(maxWaitMs, Math.floor(budgetMs / 2)), async (waitedMs) => {
      try {
        return await runSearch(budgetMs - reserveMs - waitedMs, work);
      } catch (error) {
        if (databaseOverloadOf(error) !== "statement_timeout") throw error;
        onTimeout?.(route);
        throw new SearchTimeoutError();
      }
    });

  return {
    /**
     * `client` identifies the caller for its share of concurrent searches (user or address).
     * A first page that finds nothing is tried once more with the query's misspelt words
     * corrected from post titles (`didYouMean`), within the same admission and timeout rules.
     */
    async searchPosts(input: SearchPostsInput, client: string): Promise<SearchPage> {
      assertParseable(input.q);
      const startedAt = performance.now();
      const page = await searchPage(input, client, timeoutMs);
      if (page.items.length > 0 || input.cursor !== undefined) return page;
      const words = wordsOf(input.q).filter((word) => typoBudget(word) > 0);
      // The fallback shares the request's budget: with less than a fifth of it left, the
      // answer is the empty page rather than a late one.
      const leftMs = () => timeoutMs - (performance.now() - startedAt);
      if (words.length === 0 || leftMs() < timeoutMs / 5) return page;
      const candidates = await admitted(
        "search",
        client,
        (repository) => repository.fuzzyTitleCandidates(words, false, FUZZY_CANDIDATE_CAP),
        leftMs(),
      );
      const corrected = correctQuery(
        input.q,
        candidates.map((candidate) => candidate.title),
      );
      if (corrected === undefined || leftMs() < timeoutMs / 5) return page;
      return { ...(await searchPage({ ...input, q: corrected }, client, leftMs())), didYouMean: corrected };
    },

    /**
     * Titles starting with `q`, then titles with a later word starting with it, then titles
     * in which every word of `q` is found with at most its typos (typo-tolerance.ts; the last
     * word may be unfinished), fewest typos first.
     */
    async suggestTitles(
      { q, limit }: { q: string; limit: number },
      client: string,
    ): Promise<TitleSuggestion[]> {
      // Surrounding blanks are an artefact of typing, not part of the title sought.
      const query = q.trim();
      if (query === "") return [];
      const words = wordsOf(query);
      return admitted("suggest", client, async (repository) => {
        const byPrefix = await repository.suggestTitles(query, limit);
        if (byPrefix.length >= limit || words.length === 0) return byPrefix;
        const seen = new Set(byPrefix.map((suggestion) => suggestion.id));
        const candidates = await repository.fuzzyTitleCandidates(words, true, FUZZY_CANDIDATE_CAP);
        const byTypos: TitleSuggestion[] = [];
        for (const { id, title } of candidates) {
          if (seen.has(id)) continue;
          const typos = titleTypos(words, title, true);
          if (typos !== undefined) byTypos.push({ id, title, score: typoScore(typos) });
        }
        // Candidates come newest first, and the sort is stable: equal scores stay newest first.
        byTypos.sort((a, b) => b.score - a.score);
        return [...byPrefix, ...byTypos].slice(0, limit);
      });
    },
  };

  /** One page of the query as given, highlights rendered. */
  async function searchPage(
    { q, limit, cursor, authorId, tag }: SearchPostsInput,
    client: string,
    budgetMs: number,
  ): Promise<SearchPage> {
    const after = cursor ? decodeCursor(cursor, isSearchCursor) : undefined;
    const page = await fetchPage(
      limit,
      (take) =>
        admitted(
          "search",
          client,
          (repository) =>
            repository.searchPosts({
              query: q,
              limit: take,
              ...(after ? { after: { rank: after[0], createdAt: after[1], id: after[2] } } : {}),
              ...(authorId !== undefined ? { authorId } : {}),
              // Tags are stored lower-case.
              ...(tag !== undefined ? { tag: tag.toLowerCase() } : {}),
            }),
          budgetMs,
        ),
      (last) => [last.rank, last.createdAt.toISOString(), last.id],
    );
    const items = page.items.map(({ headline, ...post }) => ({
      ...post,
      highlight: renderHighlight(headline),
    }));
    return { items, nextCursor: page.nextCursor };
  }
}

export type SearchService = ReturnType<typeof createSearchService>;
