import { and, asc, eq, gt, ilike, or, sql } from "drizzle-orm";
import type { Db, PlainSql } from "../../platform/database/index.js";
import { type UserRow, users } from "../../platform/database/schema.js";
import type { JobRequest, RecordJob } from "../../platform/jobs/index.js";

export type User = UserRow;

/** What the account view (GET /users/me) shows: no secrets, no bookkeeping. */
export type Account = Pick<
  User,
  "id" | "email" | "username" | "role" | "emailVerifiedAt" | "createdAt" | "balance"
>;

export interface NewUser {
  email: string;
  username: string;
  passwordHash: string;
  role?: "user" | "admin";
  /** Set for an address the operator vouches for (ADMIN_EMAIL, `kaira create-admin`). */
  emailVerifiedAt?: Date;
}

export interface UserChanges {
  username?: string;
  passwordHash?: string;
  role?: "user" | "admin";
  isActive?: boolean;
  /** Invalidate every access token issued so far. */
  bumpTokenVersion?: boolean;
}

export interface UsersRepository {
  /** Inserts the user and, in the same transaction, records the job `jobFor` returns (if any). */
  insert(user: NewUser, jobFor?: (saved: User) => JobRequest): Promise<User>;
  findById(id: number): Promise<User | undefined>;
  /** The account view only: read on every GET /users/me. */
  findAccountById(id: number): Promise<Account | undefined>;
  /** By email (any case) or exact username — what the token endpoint's `username` may be. */
  findByLogin(login: string): Promise<User | undefined>;
  findByEmail(email: string): Promise<User | undefined>;
  update(id: number, changes: UserChanges): Promise<User | undefined>;
  /**
   * Applies `changes` unless they would leave no active admin; then "last_admin" and nothing
   * changes. The active admins are locked while checking, so two admins demoting each other
   * at once cannot both succeed.
   */
  updateKeepingAnAdmin(id: number, changes: UserChanges): Promise<User | undefined | "last_admin">;
  /** By id; with `search`, only users whose email or username contains it (any case). */
  listAfter(afterId: number, limit: number, search?: string): Promise<User[]>;
}

/** The columns an update writes: the changes, the update time, and the token version when bumped. */
function columnsFor({ bumpTokenVersion, ...changes }: UserChanges) {
  return {
    ...changes,
    updatedAt: sql`now()`,
    ...(changes.passwordHash !== undefined ? { passwordChangedAt: sql`now()` } : {}),
    ...(bumpTokenVersion ? { tokenVersion: sql`${users.tokenVersion} + 1` } : {}),
  };
}

/** A `users` row as the driver returns it (see `findById`). */
interface UserDriverRow {
  id: number;
  email: string;
  username: string;
  password_hash: string;
  role: User["role"];
  is_active: boolean;
  token_version: number;
  balance: string | number;
  email_verified_at: Date | null;
  deleted_at: Date | null;
  password_changed_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

const FIND_BY_ID = {
  name: "users_find_by_id",
  text: `select id, email, username, password_hash, role, is_active, token_version, balance,
    email_verified_at, deleted_at, password_changed_at, created_at, updated_at
    from users where id = $1`,
};

const FIND_ACCOUNT_BY_ID = {
  name: "users_find_account_by_id",
  text: "select id, email, username, role, email_verified_at, created_at, balance from users where id = $1",
};

/** The account view's columns as the driver returns them (see `findAccountById`). */
type AccountDriverRow = Pick<
  UserDriverRow,
  "id" | "email" | "username" | "role" | "email_verified_at" | "created_at" | "balance"
>;

const fromAccountRow = (row: AccountDriverRow): Account => ({
  id: row.id,
  email: row.email,
  username: row.username,
  role: row.role,
  emailVerifiedAt: row.email_verified_at,
  createdAt: row.created_at,
  balance: Number(row.balance),
});

const fromDriverRow = (row: UserDriverRow): User => ({
  ...fromAccountRow(row),
  passwordHash: row.password_hash,
  isActive: row.is_active,
  tokenVersion: row.token_version,
  deletedAt: row.deleted_at,
  passwordChangedAt: row.password_changed_at,
  updatedAt: row.updated_at,
});

export function createUsersRepository(
  { db, plain }: { db: Db; plain: PlainSql },
  recordJob?: RecordJob,
): UsersRepository {
  return {
    async insert(user, jobFor) {
      if (!jobFor || !recordJob) {
        const [row] = await db.insert(users).values(user).returning();
        if (!row) throw new Error("insert returned no row");
        return row;
      }
      return db.transaction(async (tx) => {
        const [row] = await tx.insert(users).values(user).returning();
        if (!row) throw new Error("insert returned no row");
        await recordJob(tx, jobFor(row));
        return row;
      });
    },
    // Read on every profile view and every token check that misses the auth-state cache: a
    // prepared plain statement and a hand-written mapping cost less API CPU than Drizzle's
    // select and its row mapping (bench/README.md, "Writes"). A test checks both lookups
    // return what Drizzle's select does.
    async findById(id) {
      const [row] = await plain.rows<UserDriverRow>(FIND_BY_ID, [id]);
      return row && fromDriverRow(row);
    },
    async findAccountById(id) {
      const [row] = await plain.rows<AccountDriverRow>(FIND_ACCOUNT_BY_ID, [id]);
      return row && fromAccountRow(row);
    },
    async findByLogin(login) {
      const [row] = await db
        .select()
        .from(users)
        .where(or(sql`lower(${users.email}) = lower(${login})`, eq(users.username, login)))
        .limit(1);
      return row;
    },
    async findByEmail(email) {
      const [row] = await db
        .select()
        .from(users)
        .where(sql`lower(${users.email}) = lower(${email})`)
        .limit(1);
      return row;
    },
    async update(id, changes) {
      const [row] = await db.update(users).set(columnsFor(changes)).where(eq(users.id, id)).returning();
      return row;
    },
    updateKeepingAnAdmin(id, changes) {
      return db.transaction(async (tx) => {
        const admins = await tx
          .select({ id: users.id })
          .from(users)
          .where(and(eq(users.role, "admin"), eq(users.isActive, true)))
          .for("update");
        const removesAnAdmin =
          admins.some((admin) => admin.id === id) && (changes.role === "user" || changes.isActive === false);
        if (removesAnAdmin && admins.length <= 1) return "last_admin" as const;
        const [row] = await tx.update(users).set(columnsFor(changes)).where(eq(users.id, id)).returning();
        return row;
      });
    },
    listAfter(afterId, limit, search) {
      // An admin's lookup: walks the primary key, filtering as it goes (no index serves a
      // substring match on both columns, and the walk stops at the page's end).
      const pattern = search === undefined ? undefined : `%${search.replace(/[\\%_]/g, "\\$&")}%`;
      return db
        .select()
        .from(users)
        .where(
          and(
            gt(users.id, afterId),
            pattern === undefined
              ? undefined
              : or(ilike(users.email, pattern), ilike(users.username, pattern)),
          ),
        )
        .orderBy(asc(users.id))
        .limit(limit);
    },
  };
}
