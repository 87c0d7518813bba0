import { eq } from "drizzle-orm";
import type { Db } from "../../platform/database/index.js";
import { type UserRow, users } from "../../platform/database/schema.js";

export type User = UserRow;

export interface NewUser {
  email: string;
  username: string;
  passwordHash: string;
  role?: "user" | "admin";
}

export interface UsersRepository {
  insert(user: NewUser): Promise<User>;
  findById(id: number): Promise<User | undefined>;
}

export function createUsersRepository(db: Db): UsersRepository {
  return {
    async insert(user) {
      const [row] = await db.insert(users).values(user).returning();
      if (!row) throw new Error("insert returned no row");
      return row;
    },
    async findById(id) {
      const [row] = await db.select().from(users).where(eq(users.id, id)).limit(1);
      return row;
    },
  };
}
