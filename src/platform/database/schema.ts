import { sql } from "drizzle-orm";
import {
  bigint,
  boolean,
  check,
  index,
  integer,
  pgTable,
  serial,
  text,
  timestamp,
  uniqueIndex,
  uuid,
  varchar,
} from "drizzle-orm/pg-core";

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
    passwordHash: text("password_hash").notNull(),
    role: varchar("role", { length: 16 }).notNull().default("user"),
    isActive: boolean("is_active").notNull().default(true),
    /** Bumped by a password change, role change or deactivation: older access tokens stop working. */
    tokenVersion: integer("token_version").notNull().default(0),
    /** Credits in minor units; always the sum of the user's ledger entries. */
    balance: bigint("balance", { mode: "number" }).notNull().default(0),
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
  },
  (t) => [
    // Feed order is (created_at desc, id desc), read by backward index scans; these serve the unfiltered feed,
    // the per-author feed and the tag filter (GIN on the array) as keyset scans.
    index("posts_created_at_id_idx").on(t.createdAt, t.id),
    index("posts_author_created_at_id_idx").on(t.authorId, t.createdAt, t.id),
    index("posts_tags_gin_idx").using("gin", t.tags),
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
    createdAt: timestamp("created_at", { withTimezone: true, precision: 3 }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex("refresh_tokens_token_hash_key").on(t.tokenHash),
    index("refresh_tokens_family_idx").on(t.familyId),
    index("refresh_tokens_user_idx").on(t.userId),
    index("refresh_tokens_expires_at_idx").on(t.expiresAt),
  ],
);

export type RefreshTokenRow = typeof refreshTokens.$inferSelect;
export type UserRow = typeof users.$inferSelect;
export type PostRow = typeof posts.$inferSelect;
