import { Type } from "typebox";
import { PostSchema } from "../posts/posts.schemas.js";

// PostgreSQL text cannot hold NUL, so a query containing one is refused here as a 422 on
// `query.q` instead of failing in the database.
const NO_NUL = "^[^\\u0000]*$";

export const SearchQuerySchema = Type.Object(
  {
    q: Type.String({
      minLength: 1,
      maxLength: 200,
      pattern: NO_NUL,
      description:
        'Web-search syntax: words (all must match), "quoted phrases", `-word` to exclude, `or` between alternatives. ' +
        "Words are stemmed (English) and stop words ignored; a query with nothing left to look for finds nothing. " +
        "At most 32 `-` (exclusions and hyphens together).",
      examples: ['kubernetes "rolling update" -helm', "postgres or sqlite"],
    }),
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
    cursor: Type.Optional(Type.String({ maxLength: 300, description: "`next_cursor` of the previous page" })),
    author_id: Type.Optional(Type.Integer({ minimum: 1, maximum: 2_147_483_647 })),
    tag: Type.Optional(Type.String({ minLength: 1, maxLength: 50, pattern: NO_NUL })),
  },
  { additionalProperties: false },
);

export const SearchHitSchema = Type.Object(
  {
    ...PostSchema.properties,
    highlight: Type.String({
      description:
        "Up to three fragments of the title and the first 10,000 characters of the content around the " +
        "matches, joined by ` … ` (the opening words when no match is there). Safe to insert " +
        "as HTML: all text is HTML-escaped (`&`, `<`, `>`, `\"`, `'`) and the only markup is " +
        "`<mark>`…`</mark>` around each matched word.",
      examples: [
        "How we run <mark>Kubernetes</mark> upgrades with a <mark>rolling</mark> <mark>update</mark>",
      ],
    }),
    rank: Type.Number({
      description:
        "Relevance (ts_rank_cd: matches in the title weigh most, then content, then tags; close " +
        "matches weigh more). Results are ordered by rank, then newest first.",
    }),
  },
  { title: "PostSearchHit" },
);

export const SearchPageSchema = Type.Object(
  {
    items: Type.Array(SearchHitSchema),
    next_cursor: Type.Union([Type.String(), Type.Null()], {
      description: "Pass as `cursor` (with the same `q` and filters) for the next page",
    }),
    did_you_mean: Type.Optional(
      Type.String({
        description:
          "Present when `q` found nothing and this spelling of it (misspelt words corrected from post " +
          "titles) found the items returned; `next_cursor` belongs to it",
      }),
    ),
  },
  { title: "PostSearchPage" },
);

export const SuggestQuerySchema = Type.Object(
  {
    q: Type.String({
      minLength: 1,
      maxLength: 100,
      pattern: NO_NUL,
      description: "What the user has typed so far",
      examples: ["kubern"],
    }),
    limit: Type.Integer({ minimum: 1, maximum: 20, default: 10 }),
  },
  { additionalProperties: false },
);

export const SuggestionListSchema = Type.Object(
  {
    items: Type.Array(
      Type.Object({
        id: Type.Integer(),
        title: Type.String(),
        score: Type.Number({
          description:
            "1 when the title starts with `q`, 0.9 when one of its later words does; otherwise every word of `q` " +
            "is in the title with at most its typos (words of 5+ letters one, of 9+ two; the last word may be " +
            "unfinished): 0.85 with none, 0.05 less per typo, at least 0.6",
        }),
      }),
    ),
  },
  { title: "SuggestionList" },
);
