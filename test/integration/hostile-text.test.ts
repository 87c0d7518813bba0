import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bearer, type Session, signUpAndLogin } from "../helpers/auth.js";
import { createTestApp, newUser, type TestApp } from "../helpers/test-app.js";

// Text the database cannot store (NUL) or UTF-8 cannot encode (a lone surrogate), and cursors
// that only look like ours: each is a 422 naming the field, never a 500 from deep inside a query.
let t: TestApp;
let alice: Session;

beforeAll(async () => {
  t = await createTestApp();
  alice = await signUpAndLogin(t.app);
});
afterAll(async () => t.close());

const cursorOf = (values: unknown[]) => Buffer.from(JSON.stringify(values)).toString("base64url");

function expect422(
  res: { statusCode: number; headers: Record<string, unknown>; body: string },
  loc: unknown[],
) {
  expect(res.statusCode, res.body).toBe(422);
  expect(String(res.headers["content-type"])).toMatch(/^application\/problem\+json/);
  expect(JSON.parse(res.body).errors.map((error: { loc: unknown[] }) => error.loc)).toContainEqual(loc);
}

describe("NUL characters and lone surrogates", () => {
  it.each([
    ["a NUL", "a\u0000b"],
    ["a lone high surrogate", "a\ud800b"],
    ["a lone low surrogate", "\udc00"],
  ])("are refused in JSON bodies with 422: %s", async (_what, bad) => {
    const post = (payload: object) =>
      t.app.inject({ method: "POST", url: "/api/v1/posts", headers: bearer(alice.access), payload });
    expect422(await post({ title: bad, content: "x" }), ["body", "title"]);
    expect422(await post({ title: "x", content: bad }), ["body", "content"]);
    expect422(await post({ title: "x", content: "x", tags: ["ok", bad] }), ["body", "tags", 1]);
    const bob = await signUpAndLogin(t.app);
    const transfer = await t.app.inject({
      method: "POST",
      url: "/api/v1/transfers",
      headers: { ...bearer(alice.access), "idempotency-key": `k-${Math.random()}` },
      payload: { to_user_id: bob.id, amount: 1, memo: bad },
    });
    expect422(transfer, ["body", "memo"]);
    const signUp = await t.app.inject({
      method: "POST",
      url: "/api/v1/users",
      payload: newUser({ username: bad }),
    });
    expect422(signUp, ["body", "username"]);
  });

  it("are refused in query strings, forms and property names", async () => {
    expect422(await t.app.inject({ method: "GET", url: "/api/v1/posts?tag=a%00b" }), ["query", "tag"]);
    expect422(await t.app.inject({ method: "GET", url: "/api/v1/search/posts?q=a%00b" }), ["query", "q"]);
    expect422(await t.app.inject({ method: "GET", url: "/api/v1/search/suggest?q=ab%00c" }), ["query", "q"]);
    const login = await t.app.inject({
      method: "POST",
      url: "/api/v1/auth/token",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      payload: `username=${encodeURIComponent(alice.username)}%00&password=x`,
    });
    expect422(login, ["body", "username"]);
    const key = await t.app.inject({
      method: "POST",
      url: "/api/v1/posts",
      headers: bearer(alice.access),
      payload: { title: "x", content: "x", "bad\u0000key": 1 },
    });
    expect422(key, ["body", "bad\u0000key"]);
  });

  it("leaves well-formed text alone, astral characters included", async () => {
    const res = await t.app.inject({
      method: "POST",
      url: "/api/v1/posts",
      headers: bearer(alice.access),
      payload: { title: "Smile 😀", content: "tab\tnew\nline", tags: ["emoji😀"] },
    });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json().title).toBe("Smile 😀");
  });
});

describe("cursors", () => {
  it.each([
    ["posts", "/api/v1/posts", ["1", 1]],
    ["posts", "/api/v1/posts", ["2024", 1]],
    ["posts", "/api/v1/posts", ["2024-02-30T00:00:00.000Z", 1]],
    ["posts", "/api/v1/posts", ["2024-01-01T00:00:00.000Z", "1"]],
    ["posts", "/api/v1/posts", ["2024-01-01T00:00:00.000Z", 1.5]],
    ["posts", "/api/v1/posts", [null, 1]],
    // Year 0000 is a date to JavaScript but not to PostgreSQL, which has no year 0.
    ["posts", "/api/v1/posts", ["0000-01-01T00:00:00.000Z", 1]],
    ["search", "/api/v1/search/posts?q=hello", [0.5, "0000-01-01T00:00:00.000Z", 1]],
    ["search", "/api/v1/search/posts?q=hello", ["1", 1]],
    ["search", "/api/v1/search/posts?q=hello", [0, "1", 1]],
    ["search", "/api/v1/search/posts?q=hello", [0, "2024-01-01 00:00", 1]],
    ["search", "/api/v1/search/posts?q=hello", ["0", "2024-01-01T00:00:00.000Z", 1]],
    ["search", "/api/v1/search/posts?q=hello", [0, "2024-01-01T00:00:00.000Z", 2 ** 40]],
    ["transfers", "/api/v1/transfers", ["1"]],
  ])("a %s cursor of %j is a 422 on query.cursor", async (_list, url, values) => {
    const separator = (url as string).includes("?") ? "&" : "?";
    const res = await t.app.inject({
      method: "GET",
      url: `${url}${separator}cursor=${cursorOf(values as unknown[])}`,
      headers: bearer(alice.access),
    });
    expect422(res, ["query", "cursor"]);
  });

  it("accepts the cursors the API hands out", async () => {
    for (let i = 0; i < 3; i += 1) {
      await t.app.inject({
        method: "POST",
        url: "/api/v1/posts",
        headers: bearer(alice.access),
        payload: { title: `hello ${i}`, content: "hello world" },
      });
    }
    for (const url of ["/api/v1/posts?limit=1", "/api/v1/search/posts?q=hello&limit=1"]) {
      const first = (await t.app.inject({ method: "GET", url })).json();
      expect(first.next_cursor).toEqual(expect.any(String));
      const second = await t.app.inject({ method: "GET", url: `${url}&cursor=${first.next_cursor}` });
      expect(second.statusCode, second.body).toBe(200);
      expect(second.json().items[0].id).not.toBe(first.items[0].id);
    }
  });
});

describe("large invalid bodies", () => {
  it.each([
    ["tags", { title: "x", content: "y", tags: Array(100_000).fill("") }],
    ["attachment_ids", { title: "x", content: "y", attachment_ids: Array(100_000).fill(-1) }],
  ])(
    "a body of 100,000 bad %s is refused with one short 422, not an error per item",
    async (_field, payload) => {
      for (const headers of [{}, bearer(alice.access)]) {
        const res = await t.app.inject({ method: "POST", url: "/api/v1/posts", headers, payload });
        expect(res.statusCode, res.body.slice(0, 300)).toBe(422);
        expect(res.body.length).toBeLessThan(2_000);
        expect(res.json().errors).toHaveLength(1);
      }
    },
  );
});
