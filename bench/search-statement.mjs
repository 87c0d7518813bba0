// The statement and parameters Kaira's search repository sends for a query (first page, default
// limit), built by the repository itself so that EXPLAIN looks at exactly what the API runs.
// Imported after tsx is registered (see search-load.mjs).
import { drizzle } from "drizzle-orm/node-postgres";
import pg from "pg";

const DEFAULT_PAGE = 20;

export async function searchStatement(
  query,
  { rankWindow = Number(process.env.SEARCH_RANK_WINDOW ?? 10_000) } = {},
) {
  const { createSearchRepository } = await import("../src/modules/search/search.repository.ts");
  // Never connects: the builder only renders SQL.
  const db = drizzle({ client: new pg.Pool({ max: 1 }) });
  const repository = createSearchRepository(db, { rankWindow });
  const { sql, params } = repository.searchPosts({ query, limit: DEFAULT_PAGE + 1 }).toSQL();
  return { text: sql, params };
}
