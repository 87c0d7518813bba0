import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUsersRepository } from "../../src/modules/users/users.repository.js";
import type { ExecutedQuery, TimedQuery } from "../../src/platform/database/database.js";
import type { Database } from "../../src/platform/database/index.js";
import { users } from "../../src/platform/database/schema.js";
import { ENGINES, openEngineDatabase } from "../helpers/engine-database.js";

// The plain-statement port (Database.plain) that the hot paths use instead of Drizzle: the same
// contract on a PostgreSQL server (pg, prepared by name) and on PGlite.

describe.each(ENGINES)("plain statements on %s", { timeout: 120_000 }, (engine) => {
  let database: Database;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    ({ database, cleanup } = await openEngineDatabase(engine));
  });
  afterAll(() => cleanup());

  const NOW = {
    name: "plain_test_types",
    text: "select now() as at, '{\"a\":[1]}'::jsonb as doc, 9007199254740991::int8 as big, $1::int + 1 as next",
  };

  it("returns rows with the driver's types, seen and timed like every statement", async () => {
    const seen: ExecutedQuery[] = [];
    const timed: TimedQuery[] = [];
    const stopSeeing = database.onQuery((query) => seen.push(query));
    const stopTiming = database.onQueryTimed((query) => timed.push(query));
    // Twice: the second run of a named statement reuses what the first prepared.
    for (const input of [1, 41]) {
      const [row] = await database.plain.rows<{ at: Date; doc: unknown; big: string | number; next: number }>(
        NOW,
        [input],
      );
      expect(row?.at).toBeInstanceOf(Date);
      expect(row?.doc).toEqual({ a: [1] });
      expect(Number(row?.big)).toBe(Number.MAX_SAFE_INTEGER);
      expect(row?.next).toBe(input + 1);
    }
    stopSeeing();
    stopTiming();
    expect(seen).toEqual([
      { sql: NOW.text, params: [1] },
      { sql: NOW.text, params: [41] },
    ]);
    expect(timed.filter((query) => query.sql === NOW.text)).toHaveLength(2);
  });

  it("commits a transaction that resolves and rolls back one that throws, freeing its connection", async () => {
    await database.plain.rows({ text: "create table plain_test (n int primary key)" });
    const insert = { name: "plain_test_insert", text: "insert into plain_test (n) values ($1) returning n" };
    const kept = await database.plain.transaction(async (tx) => {
      const [row] = await tx.rows<{ n: number }>(insert, [1]);
      return row?.n;
    });
    expect(kept).toBe(1);
    await expect(
      database.plain.transaction(async (tx) => {
        await tx.rows(insert, [2]);
        throw new Error("changed my mind");
      }),
    ).rejects.toThrow("changed my mind");
    // A failing statement aborts the transaction: rolled back, the first row stays alone.
    await expect(database.plain.transaction((tx) => tx.rows(insert, [1]))).rejects.toMatchObject({
      code: "23505",
    });
    const rows = await database.plain.rows<{ n: number }>({ text: "select n from plain_test order by n" });
    expect(rows.map((row) => row.n)).toEqual([1]);
    expect(database.poolStats().inUse).toBe(0);
  });

  it("takes the advisory lock with the begin, held until the transaction ends", async () => {
    const LOCK = 7_316_999;
    const heldLocks = {
      text: "select objid::int8 as id from pg_locks where locktype = 'advisory' and granted",
    };
    const inside = await database.plain.transaction(
      async (tx) => (await tx.rows<{ id: string | number }>(heldLocks)).map((row) => Number(row.id)),
      { advisoryLock: LOCK },
    );
    expect(inside).toContain(LOCK);
    const after = (await database.plain.rows<{ id: string | number }>(heldLocks)).map((row) =>
      Number(row.id),
    );
    expect(after).not.toContain(LOCK);
    await expect(database.plain.transaction(async () => 1, { advisoryLock: 1.5 })).rejects.toThrow(/integer/);
  });

  it.runIf(engine === "postgres")("makes a second holder of the lock wait for the first to end", async () => {
    const LOCK = 7_316_998;
    const order: string[] = [];
    let release = () => {};
    const first = database.plain.transaction(
      async () => {
        order.push("first in");
        await new Promise<void>((resolve) => {
          release = resolve;
        });
        order.push("first out");
      },
      { advisoryLock: LOCK },
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    const second = database.plain.transaction(async () => order.push("second in"), { advisoryLock: LOCK });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(order).toEqual(["first in"]);
    release();
    await Promise.all([first, second]);
    expect(order).toEqual(["first in", "first out", "second in"]);
  });

  it("finds a user (and an account view) by id exactly as Drizzle's select of the row does", async () => {
    const repository = createUsersRepository(database);
    const created = await repository.insert({
      email: `plain-${engine}@example.com`,
      username: `plain_${engine}`,
      passwordHash: "x",
      emailVerifiedAt: new Date("2026-01-02T03:04:05.678Z"),
    });
    await database.db.update(users).set({ balance: 1234 }).where(eq(users.id, created.id));
    const [viaDrizzle] = await database.db.select().from(users).where(eq(users.id, created.id));
    expect(await repository.findById(created.id)).toStrictEqual(viaDrizzle);
    expect(await repository.findById(created.id + 1000)).toBeUndefined();
    const { id, email, username, role, emailVerifiedAt, createdAt, balance } = viaDrizzle ?? created;
    expect(await repository.findAccountById(created.id)).toStrictEqual({
      id,
      email,
      username,
      role,
      emailVerifiedAt,
      createdAt,
      balance,
    });
    expect(await repository.findAccountById(created.id + 1000)).toBeUndefined();
  });
});
