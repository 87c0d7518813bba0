import { sql } from "drizzle-orm";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../helpers/test-app.js";

// A file of its own: it kills one of its database connections on purpose.
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.close();
});

it("survives losing a connection between two statements of a transaction, and answers on the next request", async () => {
  const { db } = t.db.database;
  const transaction = db.transaction(async (tx) => {
    const result = (await tx.execute(sql`select pg_backend_pid() as pid`)) as unknown as {
      rows: { pid: number }[];
    };
    const pid = result.rows[0]?.pid;
    // From another connection, the server ends this one while the transaction is between
    // statements — what a database restart does to a backup writing its spool.
    await db.execute(sql`select pg_terminate_backend(${pid})`);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await tx.execute(sql`select 1`);
  });
  await expect(transaction).rejects.toThrow();
  // The process is still here (an unheard 'error' event would have ended it), and the pool
  // serves the next request on a fresh connection.
  const res = await t.app.inject({ url: "/health/ready" });
  expect(res.statusCode).toBe(200);
});
