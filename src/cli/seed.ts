import { randomInt } from "node:crypto";
import cliProgress from "cli-progress";
import type { PasswordHasher } from "../modules/auth/password-hasher.js";
import type { Database } from "../platform/database/index.js";
import { posts, users } from "../platform/database/schema.js";

export const DEMO_PASSWORD = "kaira-demo-password";
const BATCH_SIZE = 1_000;
const TAGS = ["news", "help", "showcase", "question", "release", "ops", "til", "jobs"];

// Demo posts read like a small engineering community's, so the README's search examples
// (`kubernetes upgrade`, `"rolling update"`, `postgres or sqlite`, …) find something.
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

const pick = <T>(items: readonly T[]): T => items[randomInt(items.length)] as T;

function demoPost(): { title: string; content: string } {
  const subject = pick(SUBJECTS);
  const sentences = Array.from({ length: 2 + randomInt(5) }, () => pick(SENTENCES)(subject));
  return { title: pick(TITLES)(subject), content: [...new Set(sentences)].join(" ") };
}

/** The first demo user of this run, for logging in; undefined when the run added no users. */
function firstUsername(runTag: string, count: number): string | undefined {
  return count > 0 ? `demo_${runTag}_0` : undefined;
}

export interface SeedOptions {
  users: number;
  posts: number;
  /** Shows a progress bar; only when a person watches a terminal. */
  progress: boolean;
}

/**
 * Fills the database with demo data in batches of 1,000 rows per INSERT. Every demo user
 * shares one password hash (hashed once) so seeding 100k users takes seconds, not hours.
 */
export async function seedDemoData(database: Database, hasher: PasswordHasher, options: SeedOptions) {
  const { db } = database;
  const bar = options.progress
    ? new cliProgress.SingleBar(
        { format: " {task} [{bar}] {value}/{total}" },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  const passwordHash = await hasher.hash(DEMO_PASSWORD);
  const runTag = Date.now().toString(36);

  const userIds: number[] = [];
  bar?.start(options.users, 0, { task: "users" });
  for (let start = 0; start < options.users; start += BATCH_SIZE) {
    const batch = Array.from({ length: Math.min(BATCH_SIZE, options.users - start) }, (_, i) => {
      const n = start + i;
      return { email: `demo-${runTag}-${n}@example.com`, username: `demo_${runTag}_${n}`, passwordHash };
    });
    const inserted = await db.insert(users).values(batch).returning({ id: users.id });
    userIds.push(...inserted.map((row) => row.id));
    bar?.update(userIds.length);
  }
  bar?.stop();
  if (userIds.length === 0 && options.posts > 0) {
    const existing = await db.select({ id: users.id }).from(users).limit(10_000);
    userIds.push(...existing.map((row) => row.id));
    if (userIds.length === 0) throw new Error("seed: posts need at least one user (use --users)");
  }

  // Spread posts over the last year so the feed and its cursors look like real data.
  const now = Date.now();
  const yearMs = 365 * 24 * 3600 * 1000;
  let postCount = 0;
  bar?.start(options.posts, 0, { task: "posts" });
  for (let start = 0; start < options.posts; start += BATCH_SIZE) {
    const batch = Array.from({ length: Math.min(BATCH_SIZE, options.posts - start) }, () => {
      const createdAt = new Date(now - randomInt(yearMs));
      return {
        authorId: userIds[randomInt(userIds.length)] as number,
        ...demoPost(),
        tags: [pick(TAGS), pick(TAGS)].filter((tag, i, all) => all.indexOf(tag) === i),
        createdAt,
        updatedAt: createdAt,
      };
    });
    await db.insert(posts).values(batch);
    postCount += batch.length;
    bar?.update(postCount);
  }
  bar?.stop();
  return { users: options.users, posts: postCount, firstUsername: firstUsername(runTag, options.users) };
}
