import { eq } from "drizzle-orm";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { postKey } from "../../src/modules/posts/posts.cache.js";
import { outboxEvents } from "../../src/platform/database/schema.js";
import { bearer, type Session, signUpAndLogin } from "../helpers/auth.js";
import { upload } from "../helpers/files.js";
import { createSecondInstance, createTestApp, type TestApp } from "../helpers/test-app.js";

// Two instances on one database and one cache (Redis when REDIS_URL is set, each instance
// with its own connection): a write through B is never followed by a stale read on A.
let t: TestApp;
let a: FastifyInstance;
let b: FastifyInstance;
let author: Session;

beforeAll(async () => {
  t = await createTestApp();
  a = t.app;
  b = await createSecondInstance(t);
  author = await signUpAndLogin(a);
});
afterAll(async () => {
  await b.close();
  await t.close();
});

const createPost = async (title: string) => {
  const res = await b.inject({
    method: "POST",
    url: "/api/v1/posts",
    headers: bearer(author.access),
    payload: { title, content: "body" },
  });
  expect(res.statusCode).toBe(201);
  return res.json().id as number;
};

describe("read-through cache across instances", () => {
  it("shows an update and a delete made through B on A's next read", async () => {
    const id = await createPost("First title");
    expect((await a.inject({ url: `/api/v1/posts/${id}` })).json().title).toBe("First title");
    expect(await a.cache.get(postKey(id))).toBeDefined(); // now cached

    const patched = await b.inject({
      method: "PATCH",
      url: `/api/v1/posts/${id}`,
      headers: bearer(author.access),
      payload: { title: "Second title" },
    });
    expect(patched.statusCode).toBe(200);
    expect((await a.inject({ url: `/api/v1/posts/${id}` })).json().title).toBe("Second title");

    const deleted = await b.inject({
      method: "DELETE",
      url: `/api/v1/posts/${id}`,
      headers: bearer(author.access),
    });
    expect(deleted.statusCode).toBe(204);
    expect((await a.inject({ url: `/api/v1/posts/${id}` })).statusCode).toBe(404);
  });

  it("puts a post created through B at the top of A's cached first page", async () => {
    await a.inject({ url: "/api/v1/posts" }); // warm the cached first page
    const id = await createPost("Fresh on the feed");
    const feed = await a.inject({ url: "/api/v1/posts" });
    expect(feed.json().items[0]).toMatchObject({ id, title: "Fresh on the feed" });
  });

  it("shows a renamed user's new name on A, in the profile and on their cached posts", async () => {
    const id = await createPost("By a soon renamed author");
    await a.inject({ url: `/api/v1/posts/${id}` });
    await a.inject({ url: `/api/v1/users/${author.id}` });
    const username = `renamed_${Date.now().toString(36)}`;
    const renamed = await b.inject({
      method: "PATCH",
      url: "/api/v1/users/me",
      headers: bearer(author.access),
      payload: { username },
    });
    expect(renamed.statusCode).toBe(200);
    expect((await a.inject({ url: `/api/v1/users/${author.id}` })).json().username).toBe(username);
    expect((await a.inject({ url: `/api/v1/posts/${id}` })).json().author.username).toBe(username);
    expect((await a.inject({ url: "/api/v1/posts" })).json().items[0].author.username).toBe(username);
  });

  it("loads a hot key once for a burst of concurrent misses (stampede protection)", async () => {
    const id = await createPost("Suddenly popular");
    let loads = 0;
    const stop = t.db.database.onQuery((q) => {
      if (/from "posts"/.test(q.sql) && q.params.includes(id)) loads += 1;
    });
    const responses = await Promise.all(
      Array.from({ length: 50 }, () => a.inject({ url: `/api/v1/posts/${id}` })),
    );
    stop();
    expect(responses.every((res) => res.statusCode === 200 && res.json().id === id)).toBe(true);
    expect(loads).toBe(1);
  });

  it("drops a deleted file from A's cached copy of a post that listed it", async () => {
    const uploaded = await upload(b, author.access, "note.txt", Buffer.from("plain text attachment\n"));
    expect(uploaded.statusCode).toBe(201);
    const fileId = uploaded.json().id as number;
    const created = await b.inject({
      method: "POST",
      url: "/api/v1/posts",
      headers: bearer(author.access),
      payload: { title: "With a file", content: "see attached", attachment_ids: [fileId] },
    });
    const id = created.json().id as number;
    expect((await a.inject({ url: `/api/v1/posts/${id}` })).json().attachments).toHaveLength(1);
    const removed = await b.inject({
      method: "DELETE",
      url: `/api/v1/files/${fileId}`,
      headers: bearer(author.access),
    });
    expect(removed.statusCode).toBe(204);
    expect((await a.inject({ url: `/api/v1/posts/${id}` })).json().attachments).toEqual([]);
    // Live clients hear about it too: a post.updated without the file, from the same transaction.
    const events = await t.db.database.db
      .select()
      .from(outboxEvents)
      .where(eq(outboxEvents.topic, "post.updated"));
    const update = events.find((event) => (event.payload as { id: number }).id === id);
    expect((update?.payload as { attachments: unknown[] } | undefined)?.attachments).toEqual([]);
  });

  it("does not cache a missing post", async () => {
    expect((await a.inject({ url: "/api/v1/posts/2147483000" })).statusCode).toBe(404);
    expect(await a.cache.get(postKey(2147483000))).toBeUndefined();
  });
});
