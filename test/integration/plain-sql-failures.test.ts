import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPostsRepository } from "../../src/modules/posts/posts.repository.js";
import { createUsersRepository } from "../../src/modules/users/users.repository.js";
import { type Database, databaseOverloadOf } from "../../src/platform/database/index.js";
import { openPostgresDatabase } from "../../src/platform/database/postgres.js";
import { createOutboxRepository, type LiveEvent } from "../../src/platform/events/outbox.js";
import { ENGINES, openEngineDatabase } from "../helpers/engine-database.js";

// Failure injection on the plain-statement port: transactions that fail at commit, lose their
// connection or are cancelled while waiting for the lock leave no connection behind and no
// connection in an aborted transaction; hostile values survive the hot paths unchanged.

describe.each(ENGINES)("plain statements under failure on %s", { timeout: 120_000 }, (engine) => {
  let database: Database;
  let url = "";
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    ({ database, url, cleanup } = await openEngineDatabase(engine));
  });
  afterAll(() => cleanup());

  /** Every pooled connection answers outside any transaction. */
  async function allConnectionsHealthy() {
    const states = await Promise.all(
      Array.from({ length: 8 }, () =>
        database.plain.rows<{ fresh: boolean }>({ text: "select now() = statement_timestamp() as fresh" }),
      ),
    );
    // Outside a transaction a statement starts its own (PGlite stamps them a millisecond apart).
    if (engine === "postgres") expect(states.every((rows) => rows[0]?.fresh === true)).toBe(true);
    const inTx = await Promise.all(
      Array.from({ length: 8 }, () => database.plain.rows<{ n: number }>({ text: "select 1 as n" })),
    );
    expect(inTx.every((rows) => rows[0]?.n === 1)).toBe(true);
    expect(database.poolStats().inUse).toBe(0);
  }

  it("surfaces a commit that fails (deferred constraint) and frees the connection", async () => {
    await database.plain.rows({
      text: "create table plain_deferred (n int, constraint plain_deferred_n unique (n) deferrable initially deferred)",
    });
    const insert = { name: "plain_deferred_insert", text: "insert into plain_deferred (n) values ($1)" };
    await expect(
      database.plain.transaction(async (tx) => {
        await tx.rows(insert, [1]);
        await tx.rows(insert, [1]);
        return "resolved";
      }),
    ).rejects.toMatchObject({ code: "23505" });
    const rows = await database.plain.rows<{ count: string | number }>({
      text: "select count(*) as count from plain_deferred",
    });
    expect(Number(rows[0]?.count)).toBe(0);
    await allConnectionsHealthy();
  });

  it.runIf(engine === "postgres")(
    "fails a transaction whose connection dies in the middle, and drops that connection",
    async () => {
      await expect(
        database.plain.transaction(async (tx) => {
          const [me] = await tx.rows<{ pid: number }>({ text: "select pg_backend_pid() as pid" });
          // Killed from another connection while the work is busy in JavaScript.
          await database.plain.rows({ text: "select pg_terminate_backend($1)" }, [me?.pid]);
          await new Promise((resolve) => setTimeout(resolve, 100));
          await tx.rows({ text: "select 1" });
        }),
      ).rejects.toThrow();
      await allConnectionsHealthy();
    },
  );

  it.runIf(engine === "postgres")(
    "returns a connection whose begin was cancelled while waiting for the lock outside any transaction",
    async () => {
      const LOCK = 7_316_997;
      let release = () => {};
      const holder = database.plain.transaction(
        () =>
          new Promise<void>((resolve) => {
            release = resolve;
          }),
        { advisoryLock: LOCK },
      );
      await new Promise((resolve) => setTimeout(resolve, 100));
      // Its failure is caught at once: the cancel can reach it before the cancelling statement
      // answers, and a rejection left without a handler until then counts as unhandled.
      const waiter = database.plain
        .transaction(async () => "got it", { advisoryLock: LOCK })
        .then(
          (value) => ({ value }),
          (error: unknown) => ({ error }),
        );
      await new Promise((resolve) => setTimeout(resolve, 200));
      await database.plain.rows(
        {
          text: "select pg_cancel_backend(pid) from pg_locks where locktype = 'advisory' and not granted and objid = $1",
        },
        [LOCK],
      );
      expect(await waiter).toMatchObject({ error: { code: "57014" } });
      release();
      await holder;
      await allConnectionsHealthy();
    },
  );

  it("keeps hostile tags and payloads intact through the post insert and the relay", async () => {
    const users = createUsersRepository(database);
    const author = await users.insert({
      email: `hostile-${engine}@example.com`,
      username: `hostile_${engine}`,
      passwordHash: "x",
    });
    const tags = [
      "a,b",
      '"quoted"',
      "{braces}",
      "NULL",
      "null",
      "",
      "back\\slash",
      "ü ☃ 🎉",
      " spaced ",
      "x".repeat(500),
    ];
    const manyTags = Array.from({ length: 2000 }, (_, i) => `t${i},"${i}"`);
    const posts = createPostsRepository(database);
    const outbox = createOutboxRepository(database);
    // Drain anything pending first.
    await outbox.relayBatch(1000, { known: true }, async () => {});
    for (const list of [tags, manyTags, []]) {
      const title = `t "'\\ ${engine}`;
      const content = '{"not":"json"} \u2028 </script>';
      const saved = await posts.insert({ authorId: author.id, title, content, tags: list }, (post) => ({
        topic: "post.created",
        userId: null,
        payload: {
          post: { id: post.id, tags: post.tags, title: post.title, content: post.content },
          s: '"x"',
        },
      }));
      expect(saved.tags).toEqual(list);
      expect(saved.title).toBe(title);
      expect(saved.content).toBe(content);
      const published: LiveEvent[] = [];
      await outbox.relayBatch(10, { known: true }, async (events) => {
        published.push(...events);
      });
      expect(published).toHaveLength(1);
      expect(published[0]?.data).toEqual({
        post: { id: saved.id, tags: list, title, content },
        s: '"x"',
      });
      expect(published[0]?.userId).toBeNull();
      expect(typeof published[0]?.id).toBe("number");
    }
    expect(database.poolStats().inUse).toBe(0);
  });

  it.runIf(engine === "postgres")(
    "reports a full pool as busy (503) on plain statements and transactions",
    async () => {
      const small = await openPostgresDatabase({ url, poolSize: 1, poolWaitMs: 100 });
      try {
        let release = () => {};
        const holder = small.plain.transaction(
          () =>
            new Promise<void>((resolve) => {
              release = resolve;
            }),
        );
        await new Promise((resolve) => setTimeout(resolve, 100));
        const onPool = await small.plain
          .rows({ name: "plain_busy", text: "select 1" })
          .catch((error) => error);
        const inTx = await small.plain.transaction(async () => 1).catch((error) => error);
        expect(databaseOverloadOf(onPool)).toBe("busy");
        expect(databaseOverloadOf(inTx)).toBe("busy");
        release();
        await holder;
        expect(small.poolStats().inUse).toBe(0);
        const statementTimeout = await openPostgresDatabase({ url, poolSize: 1, statementTimeoutMs: 50 });
        try {
          const slow = await statementTimeout.plain
            .transaction((tx) => tx.rows({ text: "select pg_sleep(1)" }))
            .catch((error) => error);
          expect(databaseOverloadOf(slow)).toBe("statement_timeout");
          expect(statementTimeout.poolStats().inUse).toBe(0);
        } finally {
          await statementTimeout.close();
        }
      } finally {
        await small.close();
      }
    },
  );

  it.runIf(engine === "postgres")(
    "publishes each event once, in claim order, with two instances relaying",
    async () => {
      const other = await openPostgresDatabase({ url, poolSize: 3 });
      try {
        const users = createUsersRepository(database);
        const author = await users.insert({
          email: "two@example.com",
          username: "two_relays",
          passwordHash: "x",
        });
        const posts = createPostsRepository(database);
        const relays = [createOutboxRepository(database), createOutboxRepository(other)];
        await relays[0]?.relayBatch(10_000, { known: true }, async () => {});
        const published: { relay: number; ids: number[]; titles: string[] }[] = [];
        let writing = true;
        const writes = (async () => {
          for (let i = 0; i < 60; i++) {
            await posts.insert({ authorId: author.id, title: `p${i}`, content: "c", tags: [] }, (post) => ({
              topic: "post.created",
              userId: null,
              payload: { title: post.title },
            }));
          }
          writing = false;
        })();
        const relay = async (index: number) => {
          const repository = relays[index];
          if (!repository) return;
          for (;;) {
            const done = !writing;
            const count = await repository.relayBatch(7, { known: false }, async (events) => {
              published.push({
                relay: index,
                ids: events.map((event) => event.id),
                titles: events.map((event) => (event.data as { title: string }).title),
              });
            });
            if (count === 0 && done) return;
          }
        };
        await Promise.all([writes, relay(0), relay(1)]);
        const ids = published.flatMap((batch) => batch.ids);
        const titles = published.flatMap((batch) => batch.titles);
        expect(new Set(titles).size).toBe(titles.length);
        expect(ids).toEqual([...ids].sort((a, b) => a - b));
        // Every event once, numbered in the order the relays took turns.
        expect(new Set(titles)).toEqual(new Set(Array.from({ length: 60 }, (_, i) => `p${i}`)));
      } finally {
        await other.close();
      }
    },
  );

  it.runIf(engine === "postgres")(
    "shows listeners the rollback of a transaction that fails, as Drizzle's did",
    async () => {
      const seen: string[] = [];
      const stop = database.onQuery((query) => seen.push(query.sql));
      await expect(
        database.plain.transaction(async (tx) => {
          await tx.rows({ text: "select 1" });
          throw new Error("no");
        }),
      ).rejects.toThrow("no");
      stop();
      expect(seen).toEqual(["begin", "select 1", "rollback"]);
    },
  );

  it.runIf(engine === "postgres")(
    "recovers named statements prepared before a migration changed their result type",
    async () => {
      await database.plain.rows({ text: "create table plain_stale (n int)" });
      await database.plain.rows({ text: "insert into plain_stale values (7)" });
      const read = { name: "plain_test_stale_read", text: "select n from plain_stale" };
      const everyConnection = () => Promise.all(Array.from({ length: 5 }, () => database.plain.rows(read)));
      await everyConnection(); // each of the pool's five connections prepares it
      await database.plain.rows({ text: "alter table plain_stale alter column n type bigint" });
      // On the pool: the stale connection is dropped and the statement runs on another.
      const after = await everyConnection();
      expect(after.map((rows) => Number((rows[0] as { n: unknown }).n))).toEqual([7, 7, 7, 7, 7]);

      // In a transaction (the relay's rounds): the round fails once per stale connection,
      // which is then dropped, rather than failing on it for ever.
      await everyConnection();
      await database.plain.rows({ text: "alter table plain_stale alter column n type numeric" });
      const outcomes: string[] = [];
      for (let attempt = 0; attempt < 10; attempt++) {
        outcomes.push(
          await database.plain
            .transaction((tx) => tx.rows(read))
            .then(
              () => "ok",
              (error: { code?: string }) => error.code ?? "error",
            ),
        );
      }
      expect(outcomes.filter((outcome) => outcome !== "ok").every((code) => code === "0A000")).toBe(true);
      expect(outcomes.slice(5)).toEqual(["ok", "ok", "ok", "ok", "ok"]);
      expect(database.poolStats().inUse).toBe(0);
    },
  );

  it("rolls a relay round back when its publish fails, and publishes it next round", async () => {
    const users = createUsersRepository(database);
    const author = await users.insert({
      email: `relay-${engine}@example.com`,
      username: `relay_${engine}`,
      passwordHash: "x",
    });
    const posts = createPostsRepository(database);
    const outbox = createOutboxRepository(database);
    await outbox.relayBatch(1000, { known: true }, async () => {});
    await posts.insert({ authorId: author.id, title: "r", content: "r", tags: [] }, () => ({
      topic: "t",
      userId: author.id,
      payload: { n: 1 },
    }));
    await expect(
      outbox.relayBatch(10, { known: false }, async () => {
        throw new Error("broker down");
      }),
    ).rejects.toThrow("broker down");
    const seen: LiveEvent[] = [];
    expect(await outbox.relayBatch(10, { known: false }, async (events) => void seen.push(...events))).toBe(
      1,
    );
    expect(seen[0]?.userId).toBe(author.id);
    expect(seen[0]?.data).toEqual({ n: 1 });
    expect(database.poolStats().inUse).toBe(0);
  });
});
