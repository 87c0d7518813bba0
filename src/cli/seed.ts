import cliProgress from "cli-progress";
import { sql } from "drizzle-orm";
import type { PasswordHasher } from "../modules/auth/password-hasher.js";
import type { Database } from "../platform/database/index.js";

export const DEMO_PASSWORD = "kaira-demo-password";
// Rows per statement. The database generates every row itself (INSERT … SELECT FROM
// generate_series), so a batch is one short statement whatever its size; batches only pace
// the progress bar: a million posts are 50 statements.
const USER_BATCH_SIZE = 10_000;
const POST_BATCH_SIZE = 20_000;
/**
 * Adding at least this many posts (and no fewer than the table holds) drops the posts' secondary
 * indexes first and builds them again at the end, in the same transaction: building a GIN index
 * over a million rows is several times cheaper than updating it a million times.
 */
export const BULK_INDEX_THRESHOLD = 100_000;
// Tags, most common first: each post has 1–3 of them, drawn with the same skew as words, so
// "news" is on about a third of the posts and the last ones on one or two in a hundred — a tag
// filter meets both common and rare tags.
const TAGS = [
  "news",
  "help",
  "showcase",
  "question",
  "release",
  "meta",
  "til",
  "jobs",
  "kubernetes",
  "postgres",
  "redis",
  "docker",
  "typescript",
  "node",
  "security",
  "performance",
  "devops",
  "testing",
  "frontend",
  "backend",
  "database",
  "cloud",
  "linux",
  "networking",
  "observability",
  "career",
  "design",
  "architecture",
  "tooling",
  "opensource",
  "mobile",
  "rust",
  "go",
  "python",
  "ai",
  "data",
  "events",
  "hiring",
  "remote",
  "offtopic",
];
const LOREM =
  "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua postgres node fastify kaira ledger search".split(
    " ",
  );
export const DEFAULT_VOCABULARY = LOREM.length;

// Without --vocabulary, demo posts read like a small engineering community's, so the
// README's search examples (`kubernetes upgrade`, `"rolling update"`, …) find something.
const SUBJECTS = [
  "Kubernetes",
  "PostgreSQL",
  "Postgres",
  "SQLite",
  "Redis",
  "Helm",
  "Node.js",
  "Fastify",
  "TypeScript",
  "Docker",
  "Nginx",
  "Terraform",
];
// Templates for PostgreSQL's format(): %1$s is the post's subject.
const TITLES = [
  "%1$s upgrade notes",
  "%1$s at scale",
  "A rolling update of %1$s",
  "Zero downtime deploy with %1$s",
  "Debugging %1$s in production",
  "%1$s tips for beginners",
  "Backups and restores for %1$s",
  "Why we moved to %1$s",
  "Monitoring %1$s with Prometheus",
  "%1$s release day",
];
const SENTENCES = [
  "We upgraded %1$s last week and wrote down what broke.",
  "The rolling update of %1$s finished without dropping a request.",
  "A zero downtime deploy needs readiness probes that tell the truth.",
  "Helm charts made the rollout repeatable across clusters.",
  "Our Kubernetes nodes now drain before every upgrade.",
  "Postgres handles the ledger; SQLite was fine until we needed several writers.",
  "Connection pooling in front of %1$s halved the latency.",
  "Backups are only real once a restore has been tested.",
  "Dashboards showed the queue depth climbing before anyone noticed.",
  "Does anyone run %1$s on a single small machine?",
  "Structured logs with a request id saved hours of debugging.",
  "The release notes list every breaking change and the migration path.",
  "We benchmarked %1$s before and after the change; the numbers are below.",
  "Rate limits and retries with back-off kept the outage short.",
];
export const MAX_VOCABULARY = 100_000;

/** A small, fast, seedable generator (for the vocabulary's made-up words). */
function mulberry32(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SYLLABLES = "b c d f g h j k l m n p r s t v w z"
  .split(" ")
  .flatMap((c) => "a e i o u".split(" ").flatMap((v) => [c + v, `${c}${v}n`, `${c}${v}r`]));

/**
 * `size` distinct words, most common first: the lorem words, then pronounceable made-up words
 * of 2–4 syllables ("kelvo", "tunmara"). The same size always gives the same words, so a
 * benchmark can name its common and rare words.
 */
export function seedVocabulary(size: number): string[] {
  const random = mulberry32(7);
  const words = new Set(LOREM.slice(0, size));
  while (words.size < size) {
    const syllables = 2 + Math.floor(random() * 3);
    let word = "";
    for (let i = 0; i < syllables; i++) word += SYLLABLES[Math.floor(random() * SYLLABLES.length)];
    words.add(word);
  }
  return [...words];
}

/**
 * Word i is drawn with probability sqrt((i+1)/N) − sqrt(i/N): a skew like real text's, where
 * a few words are in most posts and the tail in few. With 5,000 words the most common is in
 * about half the posts and the rarest in well under one percent.
 */
const SKEW = 2;

export interface SeedOptions {
  users: number;
  posts: number;
  /** Distinct words the text draws on (default 26): a small one makes broad queries match most posts. */
  vocabulary?: number;
  /** Overrides BULK_INDEX_THRESHOLD (tests use it to exercise the bulk path on a few rows). */
  bulkIndexThreshold?: number;
  /** Shows a progress bar on a terminal; otherwise `onProgress` gets a line now and then. */
  progress: boolean;
  onProgress?: (line: string) => void;
}

/** Reports progress as a bar on a terminal, else as a line every 10% (and at most every 5 s). */
function progressReporter(options: SeedOptions) {
  if (options.progress) {
    const bar = new cliProgress.SingleBar(
      { format: " {task} [{bar}] {value}/{total}" },
      cliProgress.Presets.shades_classic,
    );
    return {
      start: (task: string, total: number) => bar.start(total, 0, { task }),
      update: (done: number) => bar.update(done),
      stop: () => bar.stop(),
    };
  }
  const report = options.onProgress;
  let task = "";
  let total = 0;
  let started = 0;
  let lastLine = 0;
  let lastShare = 0;
  return {
    start(name: string, count: number) {
      task = name;
      total = count;
      started = performance.now();
      lastLine = started;
      lastShare = 0;
    },
    update(done: number) {
      if (!report || total === 0) return;
      const share = Math.floor((done / total) * 10);
      const now = performance.now();
      if (share > lastShare || now - lastLine > 5_000 || done === total) {
        lastShare = share;
        lastLine = now;
        const seconds = ((now - started) / 1000).toFixed(1);
        report(`${task}: ${done}/${total} (${Math.floor((done / total) * 100)}%) in ${seconds} s`);
      }
    },
    stop() {},
  };
}

type Tx = Pick<Database["db"], "execute">;

async function rowsOf<T>(tx: Tx, query: ReturnType<typeof sql>): Promise<T[]> {
  const result = (await tx.execute(query)) as unknown as { rows: T[] };
  return result.rows;
}

/** A lookup table for this transaction: probing it by number is an index lookup, where subscripting
 * a large array parameter would copy the whole array for every word drawn. */
async function lookupTable(tx: Tx, name: string, values: readonly (string | number)[], type: "text" | "int") {
  await tx.execute(
    sql.raw(`create temporary table ${name} (n int primary key, v ${type} not null) on commit drop`),
  );
  await tx.execute(
    sql`insert into ${sql.raw(name)} (n, v) select n::int, v from unnest(${sql.param(values)}::${sql.raw(type)}[]) with ordinality as t(v, n)`,
  );
}

/**
 * Fills the database with demo data, set-based: one transaction in which the database
 * generates the rows itself (INSERT … SELECT FROM generate_series, a batch per statement for
 * the progress bar), so a million posts take minutes and an interrupted seed leaves nothing
 * behind. Every demo user shares one password hash (hashed once). A large seed drops the
 * posts' secondary indexes and builds them again at the end (see BULK_INDEX_THRESHOLD); the
 * search vector is a generated column, computed by every insert either way.
 */
export async function seedDemoData(database: Database, hasher: PasswordHasher, options: SeedOptions) {
  const progress = progressReporter(options);
  const passwordHash = await hasher.hash(DEMO_PASSWORD);
  const runTag = Date.now().toString(36);

  const postCount = await database.db.transaction(async (tx) => {
    // The same draws every run (the data differs only in the run's tag and dates). A seed is a
    // one-shot bulk load: the server's statement timeout, meant for requests, does not apply
    // (building the search index over a million posts takes minutes on a small machine).
    await tx.execute(sql`select setseed(0.42), set_config('statement_timeout', '0', true)`);

    const userIds: number[] = [];
    progress.start("users", options.users);
    for (let start = 0; start < options.users; start += USER_BATCH_SIZE) {
      const end = Math.min(options.users, start + USER_BATCH_SIZE) - 1;
      const inserted = await rowsOf<{ id: number }>(
        tx,
        sql`insert into users (email, username, password_hash)
            select 'demo-' || ${runTag}::text || '-' || n || '@example.com', 'demo_' || ${runTag}::text || '_' || n, ${passwordHash}::text
            from generate_series(${start}::int, ${end}::int) as n
            order by n
            returning id`,
      );
      userIds.push(...inserted.map((row) => Number(row.id)));
      progress.update(userIds.length);
    }
    progress.stop();
    if (options.posts === 0) return 0;
    if (userIds.length === 0) {
      const existing = await rowsOf<{ id: number }>(tx, sql`select id from users order by id limit 10000`);
      userIds.push(...existing.map((row) => Number(row.id)));
      if (userIds.length === 0) throw new Error("seed: posts need at least one user (use --users)");
    }

    await lookupTable(tx, "seed_authors", userIds, "int");
    await lookupTable(tx, "seed_tags", TAGS, "text");
    const vocabularySize = options.vocabulary ?? DEFAULT_VOCABULARY;
    // Word n is drawn as 1 + floor(N · random()^SKEW): a few words in most posts, the tail in few.
    const drawWord = sql`1 + floor(${vocabularySize}::int * power(random(), ${SKEW}::int))::int`;
    let text: ReturnType<typeof sql>;
    if (options.vocabulary === undefined) {
      // Posts about one subject: a title template and 2–6 distinct sentences, as the README's
      // search examples expect (`kubernetes upgrade`, `"rolling update"`, …).
      await lookupTable(tx, "seed_subjects", SUBJECTS, "text");
      await lookupTable(tx, "seed_titles", TITLES, "text");
      await lookupTable(tx, "seed_sentences", SENTENCES, "text");
      text = sql`
        join seed_subjects as subject on subject.n = draw.subject
        join seed_titles as title on title.n = draw.title
        cross join lateral (
          select
            format(title.v, subject.v) as title,
            (select string_agg(format(s.v, subject.v), ' ' order by pick.n)
              from (select distinct 1 + floor(random() * ${SENTENCES.length}::int)::int as n
                    from generate_series(1, 2 + floor(random() * 5)::int + 0 * g.i)) as pick
              join seed_sentences as s using (n)) as content
        ) as body`;
    } else {
      await lookupTable(tx, "seed_words", seedVocabulary(vocabularySize), "text");
      // Titles of 3–8 words, content of 20–99, each subquery tied to the row (g.i) so that it
      // runs per row with fresh random() draws instead of once for the statement.
      text = sql`
        cross join lateral (
          select
            (select string_agg(w.v, ' ')
              from (select ${drawWord} as n from generate_series(1, 3 + floor(random() * 6)::int + 0 * g.i)) as pick
              join seed_words as w using (n)) as title,
            (select string_agg(w.v, ' ')
              from (select ${drawWord} as n from generate_series(1, 20 + floor(random() * 80)::int + 0 * g.i)) as pick
              join seed_words as w using (n)) as content
        ) as body`;
    }

    // A bulk load: drop the secondary indexes now, build them once at the end (same transaction,
    // so a failure restores them). The primary key stays: it numbers the rows.
    const threshold = options.bulkIndexThreshold ?? BULK_INDEX_THRESHOLD;
    let indexes: { name: string; definition: string }[] = [];
    if (options.posts >= threshold) {
      const [existing] = await rowsOf<{ n: number }>(tx, sql`select count(*)::int as n from posts`);
      if (options.posts >= Number(existing?.n ?? 0)) {
        indexes = await rowsOf<{ name: string; definition: string }>(
          tx,
          sql`select i.indexname as name, i.indexdef as definition
              from pg_indexes as i
              where i.schemaname = current_schema() and i.tablename = 'posts'
                and not exists (select 1 from pg_constraint as c
                                where c.conrelid = 'posts'::regclass and c.conname = i.indexname)
              order by i.indexname`,
        );
        for (const index of indexes) await tx.execute(sql`drop index ${sql.identifier(index.name)}`);
      }
    }

    // Spread over the last year, oldest first, as a community writes them: ids and the table's
    // physical order follow created_at, which the feed and search's rank window rely on.
    const total = options.posts;
    let written = 0;
    progress.start("posts", total);
    for (let start = 0; start < total; start += POST_BATCH_SIZE) {
      const end = Math.min(total, start + POST_BATCH_SIZE) - 1;
      await tx.execute(sql`
        insert into posts (author_id, title, content, tags, created_at, updated_at)
        select author.v, left(body.title, 200), body.content, tags.v, draw.ts, draw.ts
        from generate_series(${start}::int, ${end}::int) as g(i)
        -- Every random draw of the row first, in a lateral tied to g.i (a join condition with
        -- random() would be drawn anew for every candidate row).
        cross join lateral (
          select
            now() - interval '365 days' + (g.i + random()) * (interval '365 days' / ${total}::int) as ts,
            1 + floor(random() * ${userIds.length}::int)::int + 0 * g.i as author,
            1 + floor(random() * ${SUBJECTS.length}::int)::int as subject,
            1 + floor(random() * ${TITLES.length}::int)::int as title
        ) as draw
        join seed_authors as author on author.n = draw.author
        cross join lateral (
          select coalesce(array_agg(distinct t.v), '{}') as v
          from (select 1 + floor(${TAGS.length}::int * power(random(), ${SKEW}::int))::int as n
                from generate_series(1, 1 + floor(random() * 3)::int + 0 * g.i)) as pick
          join seed_tags as t using (n)
        ) as tags
        ${text}
        order by g.i`);
      written += end - start + 1;
      progress.update(written);
    }
    progress.stop();

    if (indexes.length > 0) {
      progress.start("indexes", indexes.length);
      await tx.execute(sql`select set_config('maintenance_work_mem', '256MB', true)`);
      for (const [i, index] of indexes.entries()) {
        await tx.execute(sql.raw(index.definition));
        progress.update(i + 1);
      }
      progress.stop();
    }
    // Planner statistics for the new rows, as autovacuum would gather later.
    await tx.execute(sql`analyze users`);
    await tx.execute(sql`analyze posts`);
    return written;
  });
  // The first demo user of this run, for logging in; none when the run added no users.
  const firstUsername = options.users > 0 ? `demo_${runTag}_0` : undefined;
  return { users: options.users, posts: postCount, firstUsername };
}
