import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bearer, login, type Session, signUpAndLogin } from "../helpers/auth.js";
import { createTestApp, type TestApp } from "../helpers/test-app.js";

const ADMIN = { email: "posts-admin@example.com", password: "AdminPass-123456" };
let t: TestApp;
let alice: Session;
let bob: Session;
let adminAccess: string;

beforeAll(async () => {
  t = await createTestApp({ ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password });
  alice = await signUpAndLogin(t.app);
  bob = await signUpAndLogin(t.app);
  adminAccess = (await login(t.app, ADMIN.email, ADMIN.password)).json().access_token;
});
afterAll(() => t.close());

const create = (token: string, payload: object) =>
  t.app.inject({ method: "POST", url: "/api/v1/posts", headers: bearer(token), payload });

describe("POST /api/v1/posts", () => {
  it("creates a post by the caller: 201 with author and normalized tags", async () => {
    const res = await create(alice.access, {
      title: "Hello",
      content: "First post",
      tags: ["News", "news", "Meta"],
    });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({
      title: "Hello",
      content: "First post",
      tags: ["news", "meta"],
      author: { id: alice.id, username: alice.username },
      attachments: [],
    });
    const listed = await t.app.inject({ url: `/api/v1/posts?author_id=${alice.id}&tag=NEWS` });
    expect(listed.json().items.map((p: { id: number }) => p.id)).toContain(res.json().id);
  });

  it("needs a token with posts:write", async () => {
    expect(
      (await t.app.inject({ method: "POST", url: "/api/v1/posts", payload: { title: "x", content: "y" } }))
        .statusCode,
    ).toBe(401);
    const narrowed = (await login(t.app, alice.email, alice.password, "transfers:write")).json().access_token;
    const res = await create(narrowed, { title: "x", content: "y" });
    expect(res.statusCode).toBe(403);
    expect(res.json().code).toBe("insufficient_scope");
  });

  it.each([
    [{ content: "no title" }, ["body", "title"]],
    [{ title: "", content: "x" }, ["body", "title"]],
    [{ title: "t".repeat(201), content: "x" }, ["body", "title"]],
    [{ title: "ok", content: "c".repeat(100_001) }, ["body", "content"]],
    [{ title: "ok", content: "x", tags: ["has space"] }, ["body", "tags", 0]],
    [{ title: "ok", content: "x", tags: Array.from({ length: 21 }, (_, i) => `t${i}`) }, ["body", "tags"]],
  ])("validates %j → 422 at %j", async (payload, loc) => {
    const res = await create(alice.access, payload);
    expect(res.statusCode).toBe(422);
    expect(res.json().errors.map((e: { loc: unknown }) => e.loc)).toContainEqual(loc);
  });
});

describe("PATCH and DELETE /api/v1/posts/{id}", () => {
  it("lets the author edit, maintaining updated_at", async () => {
    const post = (await create(alice.access, { title: "Draft", content: "v1" })).json();
    await new Promise((resolve) => setTimeout(resolve, 5));
    const res = await t.app.inject({
      method: "PATCH",
      url: `/api/v1/posts/${post.id}`,
      headers: bearer(alice.access),
      payload: { content: "v2" },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ title: "Draft", content: "v2", created_at: post.created_at });
    expect(Date.parse(res.json().updated_at)).toBeGreaterThan(Date.parse(post.updated_at));
  });

  it("forbids another user (403) and leaves the post unchanged; an admin may", async () => {
    const post = (await create(alice.access, { title: "Mine", content: "alice's" })).json();
    const url = `/api/v1/posts/${post.id}`;
    const edit = await t.app.inject({
      method: "PATCH",
      url,
      headers: bearer(bob.access),
      payload: { title: "Bob's now" },
    });
    expect(edit.statusCode).toBe(403);
    expect(edit.json().code).toBe("not_post_author");
    expect((await t.app.inject({ method: "DELETE", url, headers: bearer(bob.access) })).statusCode).toBe(403);
    expect((await t.app.inject({ url })).json().title).toBe("Mine");

    const adminEdit = await t.app.inject({
      method: "PATCH",
      url,
      headers: bearer(adminAccess),
      payload: { title: "Moderated" },
    });
    expect(adminEdit.statusCode).toBe(200);
    expect(adminEdit.json().author.id).toBe(alice.id);
    expect((await t.app.inject({ method: "DELETE", url, headers: bearer(adminAccess) })).statusCode).toBe(
      204,
    );
    expect((await t.app.inject({ url })).statusCode).toBe(404);
  });

  it("lets the author delete; a second delete is 404", async () => {
    const post = (await create(bob.access, { title: "Temp", content: "x" })).json();
    const url = `/api/v1/posts/${post.id}`;
    expect((await t.app.inject({ method: "DELETE", url, headers: bearer(bob.access) })).statusCode).toBe(204);
    expect((await t.app.inject({ method: "DELETE", url, headers: bearer(bob.access) })).statusCode).toBe(404);
  });

  it("refuses an empty patch and unknown posts", async () => {
    const post = (await create(alice.access, { title: "T", content: "x" })).json();
    const empty = await t.app.inject({
      method: "PATCH",
      url: `/api/v1/posts/${post.id}`,
      headers: bearer(alice.access),
      payload: {},
    });
    expect(empty.statusCode).toBe(422);
    const missing = await t.app.inject({
      method: "PATCH",
      url: "/api/v1/posts/99999999",
      headers: bearer(alice.access),
      payload: { title: "x" },
    });
    expect(missing.statusCode).toBe(404);
  });
});
