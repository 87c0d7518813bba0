import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bearer, login, type Session, signUpAndLogin } from "../helpers/auth.js";
import { upload } from "../helpers/files.js";
import { createTestApp, type TestApp } from "../helpers/test-app.js";

let t: TestApp;
let author: Session;
let stranger: Session;
let admin: string;
let mine: { id: number; filename: string; content_type: string; size: number }[];
let theirs: { id: number };

beforeAll(async () => {
  t = await createTestApp({ ADMIN_EMAIL: "attach-admin@example.com", ADMIN_PASSWORD: "AdminPass-123456" });
  [author, stranger] = await Promise.all([signUpAndLogin(t.app), signUpAndLogin(t.app)]);
  admin = (await login(t.app, "attach-admin@example.com", "AdminPass-123456")).json().access_token;
  mine = [];
  for (let i = 0; i < 12; i++) {
    const res = await upload(t.app, author.access, `note-${i}.txt`, Buffer.from(`note number ${i}\n`));
    mine.push(res.json());
  }
  theirs = (await upload(t.app, stranger.access, "theirs.txt", Buffer.from("not yours\n"))).json();
});
afterAll(async () => {
  await t?.close();
});

const createPost = (token: string, payload: Record<string, unknown>) =>
  t.app.inject({
    method: "POST",
    url: "/api/v1/posts",
    headers: bearer(token),
    payload: { title: "With files", content: "see attached", ...payload },
  });
const editPost = (token: string, id: number, payload: Record<string, unknown>) =>
  t.app.inject({ method: "PATCH", url: `/api/v1/posts/${id}`, headers: bearer(token), payload });
const summary = (file: (typeof mine)[number]) => ({
  id: file.id,
  filename: file.filename,
  content_type: file.content_type,
  size: file.size,
});

describe("attachments on posts", () => {
  it("attaches the author's files in order and shows them wherever the post appears", async () => {
    const [a, b] = mine as [(typeof mine)[number], (typeof mine)[number]];
    const created = await createPost(author.access, { attachment_ids: [b.id, a.id] });
    expect(created.statusCode).toBe(201);
    expect(created.json().attachments).toEqual([summary(b), summary(a)]);
    const id = created.json().id;
    expect((await t.app.inject({ url: `/api/v1/posts/${id}` })).json().attachments).toEqual([
      summary(b),
      summary(a),
    ]);
    const list = await t.app.inject({ url: `/api/v1/posts?author_id=${author.id}` });
    expect(list.json().items.find((p: { id: number }) => p.id === id).attachments).toEqual([
      summary(b),
      summary(a),
    ]);
    // No attachments: an empty list, not null.
    expect((await createPost(author.access, {})).json().attachments).toEqual([]);
  });

  it("refuses other users' files and unknown ids with 422 invalid_attachment, saving nothing", async () => {
    const [a] = mine as [(typeof mine)[number]];
    for (const ids of [[theirs.id], [a.id, theirs.id], [2_000_000_000]]) {
      const res = await createPost(author.access, { title: `refused ${ids.join(",")}`, attachment_ids: ids });
      expect(res.statusCode).toBe(422);
      expect(res.json().code).toBe("invalid_attachment");
      expect(res.json().errors[0].loc).toEqual(["body", "attachment_ids", ids.length - 1]);
    }
    const posts = await t.app.inject({ url: `/api/v1/posts?author_id=${author.id}&limit=100` });
    expect(posts.json().items.some((p: { title: string }) => p.title.startsWith("refused"))).toBe(false);
  });

  it("caps the list at 10 distinct files", async () => {
    const eleven = mine.slice(0, 11).map((file) => file.id);
    expect((await createPost(author.access, { attachment_ids: eleven })).statusCode).toBe(422);
    const [a] = mine as [(typeof mine)[number]];
    expect((await createPost(author.access, { attachment_ids: [a.id, a.id] })).statusCode).toBe(422);
    const ten = await createPost(author.access, { attachment_ids: eleven.slice(0, 10) });
    expect(ten.statusCode).toBe(201);
    expect(ten.json().attachments).toHaveLength(10);
  });

  it("replaces the list on edit, keeps it when not given, clears it with []", async () => {
    const [a, b, c] = mine as [(typeof mine)[number], (typeof mine)[number], (typeof mine)[number]];
    const id = (await createPost(author.access, { attachment_ids: [a.id] })).json().id;
    const replaced = await editPost(author.access, id, { attachment_ids: [c.id, b.id] });
    expect(replaced.statusCode).toBe(200);
    expect(replaced.json().attachments.map((f: { id: number }) => f.id)).toEqual([c.id, b.id]);
    const retitled = await editPost(author.access, id, { title: "renamed" });
    expect(retitled.json().attachments.map((f: { id: number }) => f.id)).toEqual([c.id, b.id]);
    // An admin may edit the list, but only with the author's files.
    expect((await editPost(admin, id, { attachment_ids: [theirs.id] })).statusCode).toBe(422);
    expect((await editPost(admin, id, { attachment_ids: [a.id] })).json().attachments[0].id).toBe(a.id);
    expect((await editPost(author.access, id, { attachment_ids: [theirs.id] })).statusCode).toBe(422);
    // The refused edit changed nothing.
    expect((await t.app.inject({ url: `/api/v1/posts/${id}` })).json().attachments[0].id).toBe(a.id);
    expect((await editPost(author.access, id, { attachment_ids: [] })).json().attachments).toEqual([]);
  });

  it("keeps a file when a post showing it is deleted, and other posts keep showing it", async () => {
    const [a] = mine as [(typeof mine)[number]];
    const first = (await createPost(author.access, { attachment_ids: [a.id] })).json().id;
    const second = (await createPost(author.access, { attachment_ids: [a.id] })).json().id;
    await t.app.inject({ method: "DELETE", url: `/api/v1/posts/${first}`, headers: bearer(author.access) });
    expect((await t.app.inject({ url: `/api/v1/posts/${second}` })).json().attachments[0].id).toBe(a.id);
    expect((await t.app.inject({ url: `/api/v1/files/${a.id}` })).statusCode).toBe(200);
  });

  it("reads a page of posts with their attachments in one SQL statement", async () => {
    const ids = mine.slice(0, 3).map((file) => file.id);
    for (let i = 0; i < 5; i++) await createPost(author.access, { attachment_ids: ids });
    const statements: string[] = [];
    const stop = t.db.database.onQuery((q) => {
      if (!/outbox|"jobs"|pg_advisory|^(begin|commit|rollback)$/i.test(q.sql)) statements.push(q.sql);
    });
    const res = await t.app.inject({ url: "/api/v1/posts?limit=5" });
    stop();
    expect(res.json().items.every((p: { attachments: unknown[] }) => p.attachments.length === 3)).toBe(true);
    expect(statements, statements.join("\n---\n")).toHaveLength(1);
    expect(statements[0]).toMatch(/json_agg/);
  });
});
