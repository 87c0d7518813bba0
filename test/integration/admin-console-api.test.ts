import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bearer, login, type Session, signUpAndLogin } from "../helpers/auth.js";
import { createTestApp, type TestApp } from "../helpers/test-app.js";

// What the admin console reads beyond the user-facing API: all of it public, admin-only API.
const ADMIN = { email: "console-admin@example.com", password: "AdminPass-123456" };
let t: TestApp;
let admin: string;
let user: Session;

beforeAll(async () => {
  t = await createTestApp({ ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password });
  admin = (await login(t.app, ADMIN.email, ADMIN.password)).json().access_token;
  user = await signUpAndLogin(t.app);
});
afterAll(() => t.close());

const get = (url: string, token = admin) => t.app.inject({ url, headers: bearer(token) });

describe("GET /api/v1/admin/overview", () => {
  it("counts users, posts and files from the database, and this instance's requests", async () => {
    await t.app.inject({
      method: "POST",
      url: "/api/v1/posts",
      headers: bearer(user.access),
      payload: { title: "Counted", content: "x" },
    });
    const res = await get("/api/v1/admin/overview");
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ users: 2, posts: 1, files: 0, open_websockets: 0 });
    expect(body.jobs.failed).toBe(0);
    // The admin's login, the sign-up, the user's login and the post, all within the minute.
    expect(body.requests_last_minute).toBeGreaterThanOrEqual(4);
    expect((await get("/api/v1/admin/overview", user.access)).statusCode).toBe(403);
  });
});

describe("GET /api/v1/admin/files", () => {
  it("lists every user's files, newest first, with size and owner", async () => {
    const boundary = "----kaira";
    const upload = await t.app.inject({
      method: "POST",
      url: "/api/v1/files",
      headers: { ...bearer(user.access), "content-type": `multipart/form-data; boundary=${boundary}` },
      payload:
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="note.txt"\r\n` +
        `Content-Type: text/plain\r\n\r\nhello admin\r\n--${boundary}--\r\n`,
    });
    expect(upload.statusCode).toBe(201);
    const page = (await get("/api/v1/admin/files?limit=1")).json();
    expect(page.items[0]).toMatchObject({
      id: upload.json().id,
      filename: "note.txt",
      size: 11,
      owner: { id: user.id, username: user.username },
      has_thumbnail: false,
    });
    expect((await get("/api/v1/admin/files", user.access)).statusCode).toBe(403);
  });
});

describe("GET /api/v1/users?q=", () => {
  it("finds users by part of their email or username, any case; % and _ match only themselves", async () => {
    const found = (await get(`/api/v1/users?q=${user.username.slice(2, 8).toUpperCase()}`)).json();
    expect(found.items.map((u: { id: number }) => u.id)).toEqual([user.id]);
    expect((await get("/api/v1/users?q=%25")).json().items).toEqual([]);
  });
});

describe("DELETE /api/v1/users/{id}/sessions", () => {
  it("signs the user out everywhere: refresh and access tokens stop at once", async () => {
    const victim = await signUpAndLogin(t.app);
    const res = await t.app.inject({
      method: "DELETE",
      url: `/api/v1/users/${victim.id}/sessions`,
      headers: bearer(admin),
    });
    expect(res.statusCode).toBe(204);
    expect((await get("/api/v1/users/me", victim.access)).statusCode).toBe(401);
    const refresh = await t.app.inject({
      method: "POST",
      url: "/api/v1/auth/refresh",
      payload: { refresh_token: victim.refresh },
    });
    expect(refresh.statusCode).toBe(401);
    // The account itself is untouched: the user signs in again.
    expect((await login(t.app, victim.email, victim.password)).statusCode).toBe(200);
    const forbidden = await t.app.inject({
      method: "DELETE",
      url: `/api/v1/users/${victim.id}/sessions`,
      headers: bearer(user.access),
    });
    expect(forbidden.statusCode).toBe(403);
  });

  it("answers 404 user_not_found for a user that does not exist", async () => {
    const res = await t.app.inject({
      method: "DELETE",
      url: "/api/v1/users/999999999/sessions",
      headers: bearer(admin),
    });
    expect(res.statusCode).toBe(404);
    expect(res.json().code).toBe("user_not_found");
  });
});
