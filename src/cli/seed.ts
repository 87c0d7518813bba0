import cliProgress from "cli-progress";
import type { PasswordHasher } from "../modules/auth/password-hasher.js";
import type { Database } from "../platform/database/index.js";
import { posts, users } from "../platform/database/schema.js";

export const DEMO_PASSWORD = "kaira-demo-password";
// Rows per INSERT: a post is 6 parameters, so 5,000 rows stay well under PostgreSQL's 65,535
// parameters per statement while making a million posts only 200 round trips.
const USER_BATCH_SIZE = 1_000;
const POST_BATCH_SIZE = 5_000;
const TAGS = ["news", "help", "showcase", "question", "release", "meta", "til", "jobs"];
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
const TITLES: ((subject: string) => string)[] = [
  (s) => `${s} upgrade notes`,
  (s) => `${s} at scale`,
  (s) => `A rolling update of ${s}`,
  (s) => `Zero downtime deploy with ${s}`,
  (s) => `Debugging ${s} in production`,
  (s) => `${s} tips for beginners`,
  (s) => `Backups and restores for ${s}`,
  (s) => `Why we moved to ${s}`,
  (s) => `Monitoring ${s} with Prometheus`,
  (s) => `${s} release day`,
];
const SENTENCES: ((subject: string) => string)[] = [
  (s) => `We upgraded ${s} last week and wrote down what broke.`,
  (s) => `The rolling update of ${s} finished without dropping a request.`,
  () => "A zero downtime deploy needs readiness probes that tell the truth.",
  () => "Helm charts made the rollout repeatable across clusters.",
  () => "Our Kubernetes nodes now drain before every upgrade.",
  () => "Postgres handles the ledger; SQLite was fine until we needed several writers.",
  (s) => `Connection pooling in front of ${s} halved the latency.`,
  () => "Backups are only real once a restore has been tested.",
  () => "Dashboards showed the queue depth climbing before anyone noticed.",
  (s) => `Does anyone run ${s} on a single small machine?`,
  () => "Structured logs with a request id saved hours of debugging.",
  () => "The release notes list every breaking change and the migration path.",
  (s) => `We benchmarked ${s} before and after the change; the numbers are below.`,
  () => "Rate limits and retries with back-off kept the outage short.",
];
export const MAX_VOCABULARY = 100_000;

/** A small, fast, seedable generator: seeding a million posts draws ~60 million numbers. */
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

/**
 * Fills the database with demo data in multi-row INSERTs, two in flight at a time so the
 * next batch is generated while the database writes the last one. Every demo user shares one
 * password hash (hashed once), so seeding 100k users takes seconds, not hours.
 */
export async function seedDemoData(database: Database, hasher: PasswordHasher, options: SeedOptions) {
  const { db } = database;
  const progress = progressReporter(options);
  const passwordHash = await hasher.hash(DEMO_PASSWORD);
  const runTag = Date.now().toString(36);

  const userIds: number[] = [];
  progress.start("users", options.users);
  for (let start = 0; start < options.users; start += USER_BATCH_SIZE) {
    const batch = Array.from({ length: Math.min(USER_BATCH_SIZE, options.users - start) }, (_, i) => {
      const n = start + i;
      return { email: `demo-${runTag}-${n}@example.com`, username: `demo_${runTag}_${n}`, passwordHash };
    });
    const inserted = await db.insert(users).values(batch).returning({ id: users.id });
    userIds.push(...inserted.map((row) => row.id));
    progress.update(userIds.length);
  }
  progress.stop();
  if (userIds.length === 0 && options.posts > 0) {
    const existing = await db.select({ id: users.id }).from(users).limit(10_000);
    userIds.push(...existing.map((row) => row.id));
    if (userIds.length === 0) throw new Error("seed: posts need at least one user (use --users)");
  }

  const vocabulary = seedVocabulary(options.vocabulary ?? DEFAULT_VOCABULARY);
  const random = mulberry32(42);
  const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)] as T;
  const word = () => vocabulary[Math.floor(vocabulary.length * random() ** SKEW)] as string;
  const words = (count: number) => {
    let text = word();
    for (let i = 1; i < count; i++) text += ` ${word()}`;
    return text;
  };
  const text =
    options.vocabulary === undefined
      ? () => {
          const subject = pick(SUBJECTS);
          const sentences = Array.from({ length: 2 + Math.floor(random() * 5) }, () =>
            pick(SENTENCES)(subject),
          );
          return { title: pick(TITLES)(subject), content: [...new Set(sentences)].join(" ") };
        }
      : () => ({
          title: words(3 + Math.floor(random() * 6)),
          content: words(20 + Math.floor(random() * 80)),
        });

  // Spread posts over the last year, oldest first, as a community writes them: ids and the
  // table's physical order follow created_at, which the feed and search's rank window rely on.
  const now = Date.now();
  const yearMs = 365 * 24 * 3600 * 1000;
  const slotMs = yearMs / Math.max(1, options.posts);
  const postBatch = (offset: number, size: number) =>
    Array.from({ length: size }, (_, i) => {
      const createdAt = new Date(Math.floor(now - yearMs + (offset + i + random()) * slotMs));
      const first = pick(TAGS);
      const second = pick(TAGS);
      return {
        authorId: pick(userIds),
        ...text(),
        tags: first === second ? [first] : [first, second],
        createdAt,
        updatedAt: createdAt,
      };
    });

  let postCount = 0;
  let inFlight: Promise<void> | undefined;
  progress.start("posts", options.posts);
  for (let start = 0; start < options.posts; start += POST_BATCH_SIZE) {
    const batch = postBatch(start, Math.min(POST_BATCH_SIZE, options.posts - start));
    const insert = db
      .insert(posts)
      .values(batch)
      .then(() => {
        postCount += batch.length;
        progress.update(postCount);
      });
    // Awaited below; this only keeps a failure from being reported as unhandled meanwhile.
    insert.catch(() => {});
    // At most two statements at a time: one being written, the next one waiting.
    if (inFlight) await inFlight;
    inFlight = insert;
  }
  await inFlight;
  progress.stop();
  // The first demo user of this run, for logging in; none when the run added no users.
  const firstUsername = options.users > 0 ? `demo_${runTag}_0` : undefined;
  return { users: options.users, posts: postCount, firstUsername };
}
