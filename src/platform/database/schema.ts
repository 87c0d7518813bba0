import { sql } from "drizzle-orm";
import {
  bigint,
  bigserial,
  boolean,
  check,
  customType,
  index,
  integer,
  jsonb,
  pgSequence,
  pgTable,
  primaryKey,
  serial,
  text,
  timestamp,
  uniqueIndex,
  uuid,
  varchar,
} from "drizzle-orm/pg-core";
import type { Role } from "../../shared/roles.js";

/**
 * The one schema both database adapters share. drizzle-kit generates the migrations in
 * `drizzle/` from this file; never edit a committed migration, add a new one.
 */

// Timestamps keep milliseconds, the precision of a JavaScript Date, so a keyset cursor built
// from a row's created_at matches the stored value exactly.
export const users = pgTable(
  "users",
  {
    id: serial("id").primaryKey(),
    email: varchar("email", { length: 320 }).notNull(),
    username: varchar("username", { length: 32 }).notNull(),
    /**
     * Empty for an account created by an OpenID Connect sign-in that never set a password:
     * no password verifies against it (see `hasPassword` in the auth module).
     */
    passwordHash: text("password_hash").notNull(),
    role: varchar("role", { length: 16 }).$type<Role>().notNull().default("user"),
    isActive: boolean("is_active").notNull().default(true),
    /** Bumped by a password change, role change or deactivation: older access tokens stop working. */
    tokenVersion: integer("token_version").notNull().default(0),
    /** Credits in minor units; always the sum of the user's ledger entries. */
    balance: bigint("balance", { mode: "number" }).notNull().default(0),
    /** When the current email was proven to be the user's (a verification or email-change link); null: never. */
    emailVerifiedAt: timestamp("email_verified_at", { withTimezone: true, precision: 3 }),
    /** Set when the account was deleted: the row stays, anonymised, as the holder of its ledger entries. */
    deletedAt: timestamp("deleted_at", { withTimezone: true, precision: 3 }),
    /**
     * The last password change or reset; null: never since sign-up. An email-change link
     * issued before it is void: whoever asked for the change may have known the old password.
     */
    passwordChangedAt: timestamp("password_changed_at", { withTimezone: true, precision: 3 }),
    createdAt: timestamp("created_at", { withTimezone: true, precision: 3 }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true, precision: 3 }).notNull().defaultNow(),
  },
  (t) => [
    check("users_balance_non_negative", sql`${t.balance} >= 0`),
    // Emails are unique whatever their case: "Ann@x.io" and "ann@x.io" are one account.
    uniqueIndex("users_email_lower_key").on(sql`lower(${t.email})`),
    uniqueIndex("users_username_key").on(t.username),
  ],
);

/** PostgreSQL's text-search document type; Drizzle has no built-in column for it. */
const tsvector = customType<{ data: string }>({ dataType: () => "tsvector" });

/**
 * The text-search configuration of posts. `english` stems ("deploying" finds "deployed") and
 * drops stop words, which is what readers of an English-speaking community expect; `simple`
 * would treat every language alike but only ever match exact word forms. Queries must use
 * the same configuration as the stored vectors, so it lives here, once.
 */
export const SEARCH_CONFIG = "english";

export const posts = pgTable(
  "posts",
  {
    id: serial("id").primaryKey(),
    authorId: integer("author_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    title: varchar("title", { length: 200 }).notNull(),
    content: text("content").notNull(),
    tags: text("tags").array().notNull().default(sql`'{}'::text[]`),
    createdAt: timestamp("created_at", { withTimezone: true, precision: 3 }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true, precision: 3 }).notNull().defaultNow(),
    /**
     * The search document, weighted title (A) above content (B) above tags (C). PostgreSQL
     * computes it in the same statement as every insert and update, so it can never lag
     * behind or drift from the post. Posts are plain text, but the parser would take
     * `<script>` or `<div>` for HTML tags and skip them, so `<` and `>` become blanks first.
     * `posts_tags_text` is an immutable wrapper around array_to_string (see its migration).
     */
    searchVector: tsvector("search_vector")
      .notNull()
      .generatedAlwaysAs(
        sql.raw(
          `setweight(to_tsvector('${SEARCH_CONFIG}', translate("title", '<>', '  ')), 'A') || ` +
            `setweight(to_tsvector('${SEARCH_CONFIG}', translate("content", '<>', '  ')), 'B') || ` +
            `setweight(to_tsvector('${SEARCH_CONFIG}', posts_tags_text("tags")), 'C')`,
        ),
      ),
  },
  (t) => [
    // Feed order is (created_at desc, id desc), read by backward index scans; these serve the unfiltered feed,
    // the per-author feed and the tag filter (GIN on the array) as keyset scans.
    index("posts_created_at_id_idx").on(t.createdAt, t.id),
    index("posts_author_created_at_id_idx").on(t.authorId, t.createdAt, t.id),
    index("posts_tags_gin_idx").using("gin", t.tags),
    // Full-text search matches through this index; ranking then reads only the matching rows.
    index("posts_search_vector_idx").using("gin", t.searchVector),
    // Trigrams of titles: prefix (ILIKE 'abc%') and typo-tolerant (<%) suggestions.
    index("posts_title_trgm_idx").using("gin", t.title.op("gin_trgm_ops")),
  ],
);

/**
 * Refresh tokens, stored as SHA-256 hashes. Each login starts a family (one per session or
 * device); every refresh spends one row and adds the next. Presenting a spent token means it
 * was stolen or replayed, and revokes the whole family.
 */
export const refreshTokens = pgTable(
  "refresh_tokens",
  {
    id: serial("id").primaryKey(),
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    familyId: uuid("family_id").notNull(),
    tokenHash: varchar("token_hash", { length: 64 }).notNull(),
    scope: text("scope").notNull(),
    expiresAt: timestamp("expires_at", { withTimezone: true, precision: 3 }).notNull(),
    usedAt: timestamp("used_at", { withTimezone: true, precision: 3 }),
    revokedAt: timestamp("revoked_at", { withTimezone: true, precision: 3 }),
    /** The session's absolute end (login + SESSION_MAX_DAYS), carried to every rotation. */
    sessionExpiresAt: timestamp("session_expires_at", { withTimezone: true, precision: 3 }),
    /**
     * The client that logged in (its User-Agent and address, truncated), carried to every
     * rotation so the owner can tell their sessions apart in the list of sessions.
     */
    userAgent: varchar("user_agent", { length: 256 }),
    ipAddress: varchar("ip_address", { length: 64 }),
    createdAt: timestamp("created_at", { withTimezone: true, precision: 3 }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex("refresh_tokens_token_hash_key").on(t.tokenHash),
    index("refresh_tokens_family_idx").on(t.familyId),
    index("refresh_tokens_user_idx").on(t.userId),
    index("refresh_tokens_expires_at_idx").on(t.expiresAt),
  ],
);

/**
 * A user's TOTP authenticator (RFC 6238). The secret is encrypted with a key derived from
 * SECRET_KEY, so a leaked database alone yields no codes. `enabled_at` is null while the
 * enrolment awaits its first code. `last_used_step` is the time step of the last accepted
 * code: a code is accepted only for a later step, in one conditional UPDATE, so no code is
 * ever accepted twice, even by two instances at once.
 */
export const userMfa = pgTable("user_mfa", {
  userId: integer("user_id")
    .primaryKey()
    .references(() => users.id, { onDelete: "cascade" }),
  totpSecret: text("totp_secret").notNull(),
  enabledAt: timestamp("enabled_at", { withTimezone: true, precision: 3 }),
  lastUsedStep: bigint("last_used_step", { mode: "number" }),
  /**
   * Wrong second-factor codes in a row, from any address: reset only by a correct code (or a
   * password reset), never by a password login. Past a threshold the account waits
   * `locked_until` between attempts; at the hard limit the factor is refused until reset.
   */
  failedAttempts: integer("failed_attempts").notNull().default(0),
  lockedUntil: timestamp("locked_until", { withTimezone: true, precision: 3 }),
  createdAt: timestamp("created_at", { withTimezone: true, precision: 3 }).notNull().defaultNow(),
});

/**
 * Single-use recovery codes, as SHA-256 hashes: each has 120 random bits, beyond guessing, so
 * a fast hash is enough (ASVS 6.5.2) and a code can be looked up by its hash.
 */
export const mfaRecoveryCodes = pgTable(
  "mfa_recovery_codes",
  {
    id: serial("id").primaryKey(),
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    codeHash: varchar("code_hash", { length: 64 }).notNull(),
    usedAt: timestamp("used_at", { withTimezone: true, precision: 3 }),
    createdAt: timestamp("created_at", { withTimezone: true, precision: 3 }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex("mfa_recovery_codes_user_hash_key").on(t.userId, t.codeHash)],
);

/**
 * Accounts at OpenID Connect providers linked to a user. A person is identified by the
 * provider's name and its `sub` together: `sub` is unique only within its issuer, and an
 * email is never an identity (ASVS 6.8.1, 10.5.2).
 */
export const userIdentities = pgTable(
  "user_identities",
  {
    id: serial("id").primaryKey(),
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    provider: varchar("provider", { length: 64 }).notNull(),
    subject: varchar("subject", { length: 255 }).notNull(),
    /** The email the provider gave at the last sign-in (for display only). */
    email: varchar("email", { length: 320 }),
    createdAt: timestamp("created_at", { withTimezone: true, precision: 3 }).notNull().defaultNow(),
    lastLoginAt: timestamp("last_login_at", { withTimezone: true, precision: 3 }),
  },
  (t) => [
    uniqueIndex("user_identities_provider_subject_key").on(t.provider, t.subject),
    index("user_identities_user_idx").on(t.userId),
  ],
);

/**
 * One-time account tokens (email verification, password reset, email change and its cancel
 * link), stored only as SHA-256 hashes. A token is bound to its purpose, spent by one atomic
 * update (`used_at`), and dies at `expires_at`. `email` is the address the token is about:
 * the one to verify, the new one to confirm, the old one a cancel restores.
 */
export const accountTokens = pgTable(
  "account_tokens",
  {
    id: serial("id").primaryKey(),
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    purpose: varchar("purpose", { length: 32 }).notNull(),
    tokenHash: varchar("token_hash", { length: 64 }).notNull(),
    email: varchar("email", { length: 320 }),
    expiresAt: timestamp("expires_at", { withTimezone: true, precision: 3 }).notNull(),
    usedAt: timestamp("used_at", { withTimezone: true, precision: 3 }),
    createdAt: timestamp("created_at", { withTimezone: true, precision: 3 }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex("account_tokens_token_hash_key").on(t.tokenHash),
    index("account_tokens_user_purpose_idx").on(t.userId, t.purpose),
    index("account_tokens_expires_at_idx").on(t.expiresAt),
  ],
);

/** One row per transfer between two users; the money moves through its ledger entries. */
export const transfers = pgTable(
  "transfers",
  {
    id: serial("id").primaryKey(),
    fromUserId: integer("from_user_id")
      .notNull()
      .references(() => users.id),
    toUserId: integer("to_user_id")
      .notNull()
      .references(() => users.id),
    amount: bigint("amount", { mode: "number" }).notNull(),
    memo: varchar("memo", { length: 200 }),
    createdAt: timestamp("created_at", { withTimezone: true, precision: 3 }).notNull().defaultNow(),
  },
  (t) => [
    check("transfers_amount_positive", sql`${t.amount} > 0`),
    check("transfers_not_to_self", sql`${t.fromUserId} <> ${t.toUserId}`),
    index("transfers_from_idx").on(t.fromUserId, t.id),
    index("transfers_to_idx").on(t.toUserId, t.id),
  ],
);

/**
 * The append-only ledger: every movement of credits, signed (+ in, − out). A user's balance
 * always equals the sum of their entries; a transfer's two entries sum to zero.
 */
export const ledgerEntries = pgTable(
  "ledger_entries",
  {
    id: serial("id").primaryKey(),
    userId: integer("user_id")
      .notNull()
      .references(() => users.id),
    kind: varchar("kind", { length: 16 }).notNull(),
    amount: bigint("amount", { mode: "number" }).notNull(),
    transferId: integer("transfer_id").references(() => transfers.id),
    memo: varchar("memo", { length: 200 }),
    createdAt: timestamp("created_at", { withTimezone: true, precision: 3 }).notNull().defaultNow(),
  },
  (t) => [
    check("ledger_entries_kind", sql`${t.kind} in ('mint', 'transfer_out', 'transfer_in')`),
    check("ledger_entries_amount_nonzero", sql`${t.amount} <> 0`),
    index("ledger_entries_user_idx").on(t.userId, t.id),
    index("ledger_entries_transfer_idx").on(t.transferId),
  ],
);

/**
 * Idempotency keys of money-moving requests: the caller, the key, a hash of the request and
 * the response it got, committed in the same transaction as the outcome itself.
 */
export const idempotencyKeys = pgTable(
  "idempotency_keys",
  {
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    key: varchar("key", { length: 255 }).notNull(),
    requestHash: varchar("request_hash", { length: 64 }).notNull(),
    responseStatus: integer("response_status").notNull(),
    responseBody: jsonb("response_body").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true, precision: 3 }).notNull().defaultNow(),
    expiresAt: timestamp("expires_at", { withTimezone: true, precision: 3 }).notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.userId, t.key] }),
    index("idempotency_keys_expires_at_idx").on(t.expiresAt),
  ],
);

/**
 * The transactional outbox: events recorded in the same transaction as the change they
 * describe, published only after it committed (by the relay of the jobs/events runtime).
 */
/**
 * Event ids as clients see them: taken by the relay, under one lock, in the order events are
 * published — so a higher id is always committed after a lower one and `since` never skips.
 */
export const outboxEventSeq = pgSequence("outbox_event_seq");

export const outboxEvents = pgTable(
  "outbox_events",
  {
    id: serial("id").primaryKey(),
    /** The public event id, set when the event is published (see outboxEventSeq). */
    seq: bigint("seq", { mode: "number" }),
    topic: varchar("topic", { length: 64 }).notNull(),
    /** The user the event is for; null for events to everyone. */
    userId: integer("user_id"),
    payload: jsonb("payload").notNull(),
    /** W3C traceparent of the request that recorded the event (traces on): its publish joins that trace. */
    traceparent: text("traceparent"),
    createdAt: timestamp("created_at", { withTimezone: true, precision: 3 }).notNull().defaultNow(),
    publishedAt: timestamp("published_at", { withTimezone: true, precision: 3 }),
  },
  (t) => [
    index("outbox_events_unpublished_idx").on(t.id).where(sql`${t.publishedAt} is null`),
    uniqueIndex("outbox_events_seq_idx").on(t.seq),
  ],
);

/**
 * Security events (logins, refusals, admin actions, moderation), kept beside the logs so admins
 * can read them in the API. Written in batches off the request path; bounded by age and count
 * (SECURITY_EVENTS_RETENTION_DAYS, SECURITY_EVENTS_MAX_ROWS) by the hourly cleanup. No foreign
 * keys: the history of a user outlives the user.
 */
export const securityEvents = pgTable(
  "security_events",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    occurredAt: timestamp("occurred_at", { withTimezone: true, precision: 3 }).notNull(),
    event: varchar("event", { length: 64 }).notNull(),
    userId: integer("user_id"),
    actorId: integer("actor_id"),
    ip: varchar("ip", { length: 64 }),
    requestId: varchar("request_id", { length: 128 }),
    /** The event's other fields (reason, scope, …); never a password or a token. */
    details: jsonb("details").notNull(),
  },
  (t) => [
    // The admin view filters by one of these and pages newest first by id.
    index("security_events_event_idx").on(t.event, t.id),
    index("security_events_user_idx").on(t.userId, t.id),
    index("security_events_occurred_idx").on(t.occurredAt),
  ],
);

/**
 * The embedded job runner's queue: jobs recorded in the same transaction as the write that
 * triggers them, claimed by workers with `FOR UPDATE SKIP LOCKED` and a lease that a crashed
 * worker's job outlives (it is claimed again once the lease expires).
 */
export const jobs = pgTable(
  "jobs",
  {
    id: serial("id").primaryKey(),
    name: varchar("name", { length: 64 }).notNull(),
    data: jsonb("data").notNull(),
    /** waiting (run_at in the future means delayed), active, completed or failed. */
    state: varchar("state", { length: 16 }).notNull().default("waiting"),
    attemptsMade: integer("attempts_made").notNull().default(0),
    maxAttempts: integer("max_attempts").notNull(),
    runAt: timestamp("run_at", { withTimezone: true, precision: 3 }).notNull().defaultNow(),
    /** Set while active: the claiming worker's token and how long its lease lasts. */
    lockToken: uuid("lock_token"),
    lockedUntil: timestamp("locked_until", { withTimezone: true, precision: 3 }),
    /** Makes an insert idempotent: a scheduled job's slot, for instance. */
    dedupeKey: varchar("dedupe_key", { length: 128 }),
    lastError: text("last_error"),
    createdAt: timestamp("created_at", { withTimezone: true, precision: 3 }).notNull().defaultNow(),
    finishedAt: timestamp("finished_at", { withTimezone: true, precision: 3 }),
  },
  (t) => [
    uniqueIndex("jobs_dedupe_key_idx").on(t.dedupeKey),
    index("jobs_runnable_idx").on(t.runAt, t.id).where(sql`${t.state} in ('waiting', 'active')`),
    index("jobs_state_idx").on(t.state, t.id),
    check("jobs_state_check", sql`${t.state} in ('waiting', 'active', 'completed', 'failed')`),
  ],
);

/**
 * Jobs recorded in a write's transaction while the queue lives elsewhere (BullMQ): the
 * relay moves them to the queue after commit, so a committed write never loses its job.
 */
export const jobOutbox = pgTable("job_outbox", {
  id: serial("id").primaryKey(),
  name: varchar("name", { length: 64 }).notNull(),
  data: jsonb("data").notNull(),
  createdAt: timestamp("created_at", { withTimezone: true, precision: 3 }).notNull().defaultNow(),
});

/**
 * Uploaded files. The bytes live in object storage under `storage_key`, a name the server
 * generated; `filename` is the client's name, sanitized, and only ever used in headers.
 */
export const files = pgTable(
  "files",
  {
    id: serial("id").primaryKey(),
    ownerId: integer("owner_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    storageKey: varchar("storage_key", { length: 64 }).notNull(),
    filename: varchar("filename", { length: 255 }).notNull(),
    /** Detected from the bytes, never taken from the client. */
    contentType: varchar("content_type", { length: 127 }).notNull(),
    size: bigint("size", { mode: "number" }).notNull(),
    sha256: varchar("sha256", { length: 64 }).notNull(),
    /** Set by the thumbnail job once a preview exists (images only). */
    thumbnailKey: varchar("thumbnail_key", { length: 80 }),
    thumbnailSize: integer("thumbnail_size"),
    createdAt: timestamp("created_at", { withTimezone: true, precision: 3 }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex("files_storage_key_key").on(t.storageKey),
    // Serves the per-user quota sum and "my files" reads.
    index("files_owner_idx").on(t.ownerId, t.id),
    check("files_size_non_negative", sql`${t.size} >= 0`),
  ],
);

/** Which files a post shows, in order. A file may be attached to several posts. */
export const postAttachments = pgTable(
  "post_attachments",
  {
    postId: integer("post_id")
      .notNull()
      .references(() => posts.id, { onDelete: "cascade" }),
    fileId: integer("file_id")
      .notNull()
      .references(() => files.id, { onDelete: "cascade" }),
    position: integer("position").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.postId, t.fileId] }),
    // "Is this file attached anywhere?" decides whether it is public.
    index("post_attachments_file_idx").on(t.fileId),
  ],
);

export type TransferRow = typeof transfers.$inferSelect;
export type AccountTokenRow = typeof accountTokens.$inferSelect;
export type RefreshTokenRow = typeof refreshTokens.$inferSelect;
export type UserRow = typeof users.$inferSelect;
export type UserMfaRow = typeof userMfa.$inferSelect;
export type UserIdentityRow = typeof userIdentities.$inferSelect;
export type PostRow = typeof posts.$inferSelect;
export type FileRow = typeof files.$inferSelect;
export type SecurityEventRow = typeof securityEvents.$inferSelect;
