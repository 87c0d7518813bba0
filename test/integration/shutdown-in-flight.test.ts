import { connect } from "node:net";
import pg from "pg";
import { afterEach, beforeEach, expect, it } from "vitest";
import { bearer, type Session, signUpAndLogin } from "../helpers/auth.js";
import { createTestApp, type TestApp } from "../helpers/test-app.js";

// A file of its own: each test closes its app while requests are still in flight.
let t: TestApp;
let locker: pg.Client;
let address: URL;
beforeEach(async () => {
  // SHUTDOWN_TIMEOUT_SECONDS=4: the wait for running handlers is bounded at 2 s.
  t = await createTestApp({ SHUTDOWN_TIMEOUT_SECONDS: "4", RATE_LIMIT_PER_MINUTE: "100000" });
  locker = new pg.Client({ connectionString: t.db.url });
  locker.on("error", () => {});
  await locker.connect();
  address = new URL(await t.app.listen({ host: "127.0.0.1", port: 0 }));
});
afterEach(async () => {
  await locker.query("rollback").catch(() => {});
  await locker.end();
  await t.app.close();
  await t.db.drop();
});

/**
 * Sends a request on a raw socket, its parts 20 ms apart, and leaves 100 ms after the last,
 * like a client that gave up.
 */
function sendAndLeave(...parts: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(address.port), address.hostname, async () => {
      for (const part of parts) {
        socket.write(part);
        await new Promise((next) => setTimeout(next, 20));
      }
      setTimeout(() => socket.destroy(), 100);
    });
    socket.on("error", reject);
    socket.on("close", () => resolve());
  });
}

/** A rename of `user` sent by a client that leaves at once; `headers` adds raw header lines. */
function renameAndLeave(user: Session, username: string, headers = ""): Promise<void> {
  const body = JSON.stringify({ username });
  return sendAndLeave(
    `PATCH /api/v1/users/me HTTP/1.1\r\nHost: ${address.host}\r\nAuthorization: ${bearer(user.access).authorization}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${headers}\r\n${body}`,
  );
}

/** Holds the user's row from another connection, so a rename waits inside its handler. */
async function lockRow(user: Session): Promise<void> {
  await locker.query("begin");
  await locker.query("select id from users where id = $1 for update", [user.id]);
}

async function renameWaitsOnTheLock(): Promise<void> {
  await expect
    .poll(async () => {
      const waiting = await locker.query(
        "select 1 from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'",
      );
      return waiting.rowCount;
    })
    .toBeGreaterThan(0);
}

/**
 * Closes the app while the rename waits on the lock, releases the lock 1.2 s later (longer
 * than the app's own closing steps take, shorter than the 2 s bound), and expects the app to
 * close only after that, with the rename committed: the request finished on a database that
 * was still open.
 */
async function expectCloseWaitsForRename(user: Session, username: string): Promise<void> {
  await renameWaitsOnTheLock();
  const events: string[] = [];
  const closing = t.app.close().then(() => events.push("closed"));
  await new Promise((resolve) => setTimeout(resolve, 1_200));
  events.push("released");
  await locker.query("commit");
  await closing;
  expect(events).toEqual(["released", "closed"]);
  const renamed = await locker.query("select username from users where id = $1", [user.id]);
  expect(renamed.rows[0]?.username).toBe(username);
}

// The Upgrade header is the client's to send: it must not take a request out of the count.
for (const [name, headers] of [
  ["", ""],
  [" (sent with an Upgrade header that is not a WebSocket's)", "Upgrade: h2c\r\n"],
] as const) {
  it(`waits, at shutdown, for a handler whose client has gone before closing what it uses${name}`, async () => {
    const user = await signUpAndLogin(t.app);
    await lockRow(user);
    await renameAndLeave(user, "renamed_at_shutdown", headers);
    await expectCloseWaitsForRename(user, "renamed_at_shutdown");
  });
}

it("waits for a request still in its authentication step", async () => {
  const user = await signUpAndLogin(t.app);
  // The user's state is not cached yet, so the token check reads the users table, which
  // another connection holds: the request waits before its handler starts.
  await locker.query("begin");
  await locker.query("lock table users in access exclusive mode");
  await renameAndLeave(user, "renamed_after_auth");
  await expectCloseWaitsForRename(user, "renamed_after_auth");
});

it("stops waiting for a handler that outlasts the bound, and closes without an error", async () => {
  const user = await signUpAndLogin(t.app);
  await lockRow(user);
  await renameAndLeave(user, "never_in_time");
  await renameWaitsOnTheLock();
  const started = Date.now();
  await t.app.close(); // would reject if the wait outlasted Fastify's own bound on a hook
  expect(Date.now() - started).toBeGreaterThanOrEqual(1_900);
  expect(Date.now() - started).toBeLessThan(4_000);
});

it("does not wait for requests that never reached a handler", async () => {
  // A malformed chunked body (Node answers 400 itself) and a body that never arrives.
  const post = `POST /api/v1/users HTTP/1.1\r\nHost: ${address.host}\r\nContent-Type: application/json\r\n`;
  await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      i % 2 === 0
        ? sendAndLeave(`${post}Transfer-Encoding: chunked\r\n\r\n`, "ZZ\r\n")
        : sendAndLeave(`${post}Content-Length: 100\r\n\r\n`, "{"),
    ),
  );
  const started = Date.now();
  await t.app.close();
  expect(Date.now() - started).toBeLessThan(1_500);
});
