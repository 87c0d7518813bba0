import pg from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import { bearer, signUpAndLogin } from "../helpers/auth.js";
import { createTestApp, type TestApp } from "../helpers/test-app.js";

// A file of its own: it closes its app while a request is still being handled.
let t: TestApp;
let locker: pg.Client;
beforeAll(async () => {
  t = await createTestApp();
  locker = new pg.Client({ connectionString: t.db.url });
  locker.on("error", () => {});
  await locker.connect();
});
afterAll(async () => {
  await locker.end();
  await t.db.drop();
});

it("waits, at shutdown, for a handler whose client has gone before closing what it uses", async () => {
  const user = await signUpAndLogin(t.app);
  const address = await t.app.listen({ host: "127.0.0.1", port: 0 });
  // Another connection holds the user's row, so the rename waits inside its handler.
  await locker.query("begin");
  await locker.query("select id from users where id = $1 for update", [user.id]);
  const client = new AbortController();
  const rename = fetch(`${address}/api/v1/users/me`, {
    method: "PATCH",
    headers: { ...bearer(user.access), "content-type": "application/json" },
    body: JSON.stringify({ username: "renamed_at_shutdown" }),
    signal: client.signal,
  }).catch((error: Error) => error);
  await expect
    .poll(async () => {
      const waiting = await locker.query(
        "select 1 from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'",
      );
      return waiting.rowCount;
    })
    .toBeGreaterThan(0);
  // The client goes away; the server is asked to stop while the handler still waits.
  client.abort();
  expect(await rename).toBeInstanceOf(Error);
  const events: string[] = [];
  const closing = t.app.close().then(() => events.push("closed"));
  // Longer than the app's own closing steps take: without the wait it would be closed by now.
  await new Promise((resolve) => setTimeout(resolve, 2_500));
  // The lock is released: the handler finishes on a database that is still open, and only
  // then does the app close.
  events.push("released");
  await locker.query("commit");
  await closing;
  expect(events).toEqual(["released", "closed"]);
  const renamed = await locker.query("select username from users where id = $1", [user.id]);
  expect(renamed.rows[0]?.username).toBe("renamed_at_shutdown");
});
