import pg from "pg";
import { register } from "tsx/esm/api";

register();
const { searchStatement } = await import("./search-statement.mjs");
const { seedVocabulary } = await import("../src/cli/seed.ts");
const client = new pg.Client({ connectionString: "postgres://postgres@127.0.0.1:5432/kaira_search_bench" });
await client.connect();
await client.query("set statement_timeout = 60000");
for (const s of (process.env.SETTINGS ?? "").split(";").filter(Boolean)) await client.query(`set ${s}`);
const words = seedVocabulary(5000).filter((w) => !["sit", "do", "ut", "et", "sed"].includes(w));
const qs = process.argv
  .slice(2)
  .flatMap((q) =>
    q === "PHRASES"
      ? Array.from({ length: 40 }, (_, i) => `"${words[i % 20]} ${words[(i * 7 + 3) % 20]}"`)
      : q,
  );
for (const q of qs) {
  const { text, params } = await searchStatement(q);
  const started = performance.now();
  try {
    const { rows } = await client.query(`explain (analyze, buffers) ${text}`, params);
    const plan = rows.map((r) => r["QUERY PLAN"]);
    const ms = (performance.now() - started).toFixed(0);
    if (process.env.BRIEF) {
      const scan = plan
        .filter(
          (l) =>
            /Scan|Rows Removed|Limit {2}\(cost=0/.test(l) &&
            !/posts_pkey|users_pkey|files|attachments|Subquery/.test(l),
        )
        .map((l) =>
          l
            .trim()
            .replace(/\(cost=[^)]*\) /, "")
            .slice(0, 110),
        );
      console.log(`${ms.padStart(6)} ms  ${q.padEnd(28)} ${scan.join(" | ")}`);
    } else {
      console.log(`\n--- ${q} (${ms} ms)`);
      for (const l of plan) console.log(l);
    }
  } catch (e) {
    console.log(`--- ${q}: ${e.message} after ${(performance.now() - started).toFixed(0)} ms`);
  }
}
await client.end();
