import { and, arrayContains, desc, eq, or, type SQL, sql } from "drizzle-orm";
import type { Db } from "../../platform/database/index.js";
import { posts, SEARCH_CONFIG, users } from "../../platform/database/schema.js";
import { type PostWithAuthor, postWithAuthorColumns } from "../posts/posts.repository.js";
import {
  HEADLINE_CONTENT_CHARS,
  HEADLINE_OPTIONS,
  HEADLINE_SOURCE_FROM,
  HEADLINE_SOURCE_TO,
} from "./highlight.js";
import { typoBudget } from "./typo-tolerance.js";

export interface PostSearchHit extends PostWithAuthor {
  /** ts_rank_cd as float8: the exact value the keyset cursor compares against. */
  rank: number;
  /** Raw ts_headline output with marker characters; see highlight.ts. */
  headline: string;
}

export interface PostSearchFilter {
  /** User input in web-search syntax; never parsed by us. */
  query: string;
  limit: number;
  /** Keyset position: rows strictly after (rank, createdAt, id) in ranked order. */
  after?: { rank: number; createdAt: string; id: number };
  authorId?: number;
  tag?: string;
}

export interface TitleSuggestion {
  id: number;
  title: string;
  score: number;
}

export interface SearchRepository {
  /** Best first, then newest; author joined in and highlights made in the same statement. */
  searchPosts(filter: PostSearchFilter): Promise<PostSearchHit[]>;
  /** Titles starting with `query` (score 1), then titles with a later word that does (0.9). */
  suggestTitles(query: string, limit: number): Promise<TitleSuggestion[]>;
  /**
   * Candidates for typo-tolerant matching (typo-tolerance.ts decides): the newest `cap` titles
   * in which every one (`every`) or any of `words` resembles some part of the title.
   */
  fuzzyTitleCandidates(
    words: string[],
    every: boolean,
    cap: number,
  ): Promise<{ id: number; title: string }[]>;
}

/** Runs repository calls under the search statement timeout: see Database.withStatementTimeout. */
export type SearchRepositoryRunner = <T>(
  timeoutMs: number,
  work: (repository: SearchRepository) => Promise<T>,
) => Promise<T>;

// 1 divides the rank by 1 + log(document length): repeating a word a hundred times in a long
// post should not beat a short post about exactly that.
const RANK_NORMALIZATION = 1;

/**
 * Trigram word similarity at or above which a title is a candidate for typo-tolerant words;
 * each candidate is then checked word by word in typo-tolerance.ts. A word of n letters has
 * n + 1 trigrams and a typo spoils at most four of them (two swapped letters), so a
 * five-letter word with one typo keeps at least 2 of 6 (0.33: "wolrd" against "world"), and
 * a nine-letter word with two at least 2 of 10 (0.2). The lower bound is used only when the
 * query has a word long enough for two typos: it lets more titles through to be checked.
 */
const fuzzyCandidateSimilarity = (words: string[]) =>
  words.some((word) => typoBudget(word) >= 2) ? 0.2 : 0.3;
const MIN_TRIGRAM_WORD_LENGTH = 3;

// A prefix typed by a user must match literally: `%` and `_` are not wildcards to them.
const escapeLike = (text: string) => text.replace(/[\\%_]/g, "\\$&");

export interface SearchRepositoryOptions {
  /** At most this many matches, the newest, are ranked (see searchPosts). */
  rankWindow: number;
  /**
   * Tests only (never read from configuration): every search statement first sleeps this
   * long in the database, holding its connection as a slow search would.
   */
  sleepForTestsMs?: number;
}

/**
 * Keeps the rest of a search's transaction (PostgreSQL) to one backend: no parallel workers.
 * A plan with two workers would take three cores for one search, so SEARCH_CONCURRENCY would
 * not bound the database CPU that searches take; with this it does.
 */
export async function useOneBackend(tx: Db): Promise<void> {
  await tx.execute(sql`select set_config('max_parallel_workers_per_gather', '0', true)`);
}

export function createSearchRepository(db: Db, options: SearchRepositoryOptions): SearchRepository {
  const config = sql.raw(`'${SEARCH_CONFIG}'::regconfig`);

  return {
    searchPosts({ query, limit, after, authorId, tag }) {
      // websearch_to_tsquery accepts any text without raising (quotes, operators, `:*` are
      // taken as words or ignored), so user input goes to it as a plain parameter.
      const tsquery = sql`websearch_to_tsquery(${config}, ${query})`;
      // A phrase ("lorem ipsum") is chosen for the window by its words alone: the window holds
      // the newest posts that have every word of the query, and the phrase is checked among
      // them below. PostgreSQL estimates a phrase's matches like its words anywhere, so a
      // phrase of two common words (in a few posts) would otherwise look broad, and the walk
      // down the created_at index meant to stop after the window would read the whole table.
      // With its words alone the estimate is right, and the walk stops once the window is
      // full, as for any broad query. `querytree` is the query without its negations (which
      // only ever narrow it); in its text a phrase operator is the only thing written
      // ` <->` or ` <N>` (a lexeme never holds a space), so it becomes ` & `. Everything
      // here is computed once, from the query alone, before the plan is chosen.
      const relaxed = sql`regexp_replace(querytree(${tsquery}), ' <(-|[0-9]+)> ', ' & ', 'g')::tsquery`;
      const hasPhrase = sql`strpos(querytree(${tsquery}), ' <') > 0`;
      const windowQuery = sql`(case when ${hasPhrase} then ${relaxed} else ${tsquery} end)`;
      const matchConditions: (SQL | undefined)[] = [
        // Nothing to look for (only stop words or punctuation: '') or only exclusions ('T',
        // which would match nearly every post without using the index): find nothing. The
        // planner evaluates this once, before touching the table.
        sql`querytree(${tsquery}) not in ('', 'T')`,
        sql`${posts.searchVector} @@ ${windowQuery}`,
        authorId !== undefined ? eq(posts.authorId, authorId) : undefined,
        tag !== undefined ? arrayContains(posts.tags, [tag]) : undefined,
        options.sleepForTestsMs
          ? sql`(select pg_sleep(${options.sleepForTestsMs / 1000})) is not null`
          : undefined,
      ];
      // The bound on a search's cost: ranking scores every candidate, so only the newest
      // `rankWindow` matches are candidates. A query matching fewer posts ranks all of them; a
      // broad one (a word in most posts) ranks its newest matches, which PostgreSQL finds by
      // walking the created_at index backwards instead of reading every match.
      const candidates = db
        .select({ id: posts.id, createdAt: posts.createdAt, searchVector: posts.searchVector })
        .from(posts)
        .where(and(...matchConditions))
        .orderBy(desc(posts.createdAt), desc(posts.id))
        .limit(options.rankWindow)
        .as("candidates");
      const rank = sql<number>`ts_rank_cd(${candidates.searchVector}, ${tsquery}, ${sql.raw(String(RANK_NORMALIZATION))})::float8`;
      // Rank and pick the page first; highlights (the costly part) are made for that page only.
      const page = db
        .select({ id: candidates.id, createdAt: candidates.createdAt, rank: rank.as("rank") })
        .from(candidates)
        .where(
          and(
            // The phrase itself, in the window of posts with its words (true for other queries).
            sql`(not ${hasPhrase} or ${candidates.searchVector} @@ ${tsquery})`,
            after &&
              sql`(${rank}, ${candidates.createdAt}, ${candidates.id}) < (${after.rank}::float8, ${after.createdAt}::timestamptz, ${after.id})`,
          ),
        )
        // By the output column's name, so each row's rank is computed once, not twice.
        .orderBy(sql`"rank" desc`, desc(candidates.createdAt), desc(candidates.id))
        .limit(limit)
        .as("page");
      // ts_headline parses all the text it is given (about 14 ms for a 100,000-character
      // post), so it gets the title and the start of the content: a page of the longest posts
      // stays cheap, and a match further in still shows the post's opening words.
      const document = sql`translate(${posts.title} || chr(10) || left(${posts.content}, ${sql.raw(String(HEADLINE_CONTENT_CHARS))}), ${HEADLINE_SOURCE_FROM}, ${HEADLINE_SOURCE_TO})`;
      return db
        .select({
          ...postWithAuthorColumns,
          rank: page.rank,
          headline: sql<string>`ts_headline(${config}, ${document}, ${tsquery}, ${HEADLINE_OPTIONS})`,
        })
        .from(page)
        .innerJoin(posts, eq(posts.id, page.id))
        .innerJoin(users, eq(users.id, posts.authorId))
        .orderBy(desc(page.rank), desc(posts.createdAt), desc(posts.id));
    },

    suggestTitles(query, limit) {
      const pattern = escapeLike(query);
      const startsWith = sql`${posts.title} ilike ${`${pattern}%`} escape '\\'`;
      const wordStartsWith = sql`${posts.title} ilike ${`% ${pattern}%`} escape '\\'`;
      // Both are answered by the trigram index on titles; typos are handled apart (below).
      return db
        .select({
          id: posts.id,
          title: posts.title,
          score: sql<number>`case when ${startsWith} then 1 else 0.9 end`.as("score"),
        })
        .from(posts)
        .where(or(startsWith, wordStartsWith))
        .orderBy(sql`"score" desc`, desc(posts.id))
        .limit(limit);
    },

    async fuzzyTitleCandidates(words, every, cap) {
      const looked = [...new Set(words)].filter((word) => [...word].length >= MIN_TRIGRAM_WORD_LENGTH);
      if (looked.length === 0) return [];
      // `<%` compares with pg_trgm.word_similarity_threshold. It is set for the session, not
      // the transaction: the embedded PGlite runs searches outside a transaction, where a local
      // setting would be gone by the next statement. Nothing else in Kaira uses `<%`, and every
      // call sets it again, so a pooled connection never carries another value into this query.
      await db.execute(
        sql`select set_config('pg_trgm.word_similarity_threshold', ${String(fuzzyCandidateSimilarity(looked))}, false)`,
      );
      const conditions = looked.map((word) => sql`${word} <% ${posts.title}`);
      return db
        .select({ id: posts.id, title: posts.title })
        .from(posts)
        .where(every ? and(...conditions) : or(...conditions))
        .orderBy(desc(posts.id))
        .limit(cap);
    },
  };
}
