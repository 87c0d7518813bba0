import { and, arrayContains, desc, eq, or, type SQL, type SQLWrapper, sql } from "drizzle-orm";
import type { Db } from "../../platform/database/index.js";
import { posts, SEARCH_CONFIG, users } from "../../platform/database/schema.js";
import { type PostWithAuthor, postWithAuthorColumns } from "../posts/posts.repository.js";
import { HEADLINE_OPTIONS, HEADLINE_SOURCE_FROM, HEADLINE_SOURCE_TO } from "./highlight.js";

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
  /** Titles starting with, containing a word starting with, or resembling `query`; best first. */
  suggestTitles(query: string, limit: number): Promise<TitleSuggestion[]>;
}

// 1 divides the rank by 1 + log(document length): repeating a word a hundred times in a long
// post should not beat a short post about exactly that.
const RANK_NORMALIZATION = 1;

const MIN_TYPO_TOLERANT_LENGTH = 3;
const MAX_SUGGESTION_CANDIDATES = 500;

// A prefix typed by a user must match literally: `%` and `_` are not wildcards to them.
const escapeLike = (text: string) => text.replace(/[\\%_]/g, "\\$&");

export function createSearchRepository(db: Db): SearchRepository {
  const config = sql.raw(`'${SEARCH_CONFIG}'::regconfig`);

  return {
    searchPosts({ query, limit, after, authorId, tag }) {
      // websearch_to_tsquery accepts any text without raising (quotes, operators, `:*` are
      // taken as words or ignored), so user input goes to it as a plain parameter.
      const tsquery = sql`websearch_to_tsquery(${config}, ${query})`;
      const rank = sql<number>`ts_rank_cd(${posts.searchVector}, ${tsquery}, ${sql.raw(String(RANK_NORMALIZATION))})::float8`;
      const conditions: (SQL | undefined)[] = [
        // Nothing to look for (only stop words or punctuation: '') or only exclusions ('T',
        // which would match nearly every post without using the index): find nothing. The
        // planner evaluates this once, before touching the table.
        sql`querytree(${tsquery}) not in ('', 'T')`,
        sql`${posts.searchVector} @@ ${tsquery}`,
        after &&
          sql`(${rank}, ${posts.createdAt}, ${posts.id}) < (${after.rank}::float8, ${after.createdAt}::timestamptz, ${after.id})`,
        authorId !== undefined ? eq(posts.authorId, authorId) : undefined,
        tag !== undefined ? arrayContains(posts.tags, [tag]) : undefined,
      ];
      // Rank and pick the page first; highlights (the costly part) are made for that page only.
      const page = db
        .select({ id: posts.id, rank: rank.as("rank") })
        .from(posts)
        .where(and(...conditions))
        // By the output column's name, so each row's rank is computed once, not twice.
        .orderBy(sql`"rank" desc`, desc(posts.createdAt), desc(posts.id))
        .limit(limit)
        .as("page");
      const document = sql`translate(${posts.title} || chr(10) || ${posts.content}, ${HEADLINE_SOURCE_FROM}, ${HEADLINE_SOURCE_TO})`;
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
      const matches = (title: SQLWrapper) => ({
        startsWith: sql`${title} ilike ${`${pattern}%`} escape '\\'`,
        wordStartsWith: sql`${title} ilike ${`% ${pattern}%`} escape '\\'`,
        similarity: sql`word_similarity(${query}, ${title})`,
      });
      const where = matches(posts.title);
      // Bounded work: a prefix as short as a word's first letters can match thousands of titles,
      // and scoring each costs more than finding it. Enough candidates are scored to fill any
      // page; beyond that, typing another letter narrows the list.
      const candidates = db
        .select({ id: posts.id, title: posts.title })
        .from(posts)
        .where(
          // All three are answered by the trigram index on titles. `<%` keeps titles where some
          // part is at least pg_trgm.word_similarity_threshold (0.6) alike: one or two typos.
          // Below three characters there is no typo to forgive, and the similarity of one or two
          // letters would only add thousands of candidates to check.
          or(
            where.startsWith,
            where.wordStartsWith,
            query.length >= MIN_TYPO_TOLERANT_LENGTH ? sql`${query} <% ${posts.title}` : undefined,
          ),
        )
        .limit(MAX_SUGGESTION_CANDIDATES)
        .as("candidates");
      const { startsWith, wordStartsWith, similarity } = matches(candidates.title);
      const score = sql<number>`round((case when ${startsWith} then 1 when ${wordStartsWith} then greatest(${similarity}, 0.9) else ${similarity} end)::numeric, 3)::float8`;
      return db
        .select({ id: candidates.id, title: candidates.title, score: score.as("score") })
        .from(candidates)
        .orderBy(sql`"score" desc`, desc(candidates.id))
        .limit(limit);
    },
  };
}
