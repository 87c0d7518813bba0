import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createArgon2Hasher } from "../../src/modules/auth/password-hasher.js";
import { users } from "../../src/platform/database/schema.js";
import { createSecondInstance, createTestApp, newUser, type TestApp } from "../helpers/test-app.js";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

const signUp = (body: unknown) =>
  t.app.inject({ method: "POST", url: "/api/v1/users", payload: body as object });

describe("POST /api/v1/users (sign-up)", () => {
  it("creates the user: 201 with the email echoed and no password or hash", async () => {
    const body = newUser({ username: "john_seed_case" });
    const res = await signUp(body);
    expect(res.statusCode).toBe(201);
    const user = res.json();
    expect(user.email).toBe(body.email);
    expect(user).toMatchObject({ username: "john_seed_case", role: "user" });
    expect(typeof user.id).toBe("number");
    expect(new Date(user.created_at).toISOString()).toBe(user.created_at);
    expect(res.body).not.toMatch(/password|hash|argon/i);
  });

  it("stores an argon2id hash at OWASP parameters, salted per user", async () => {
    // Tests hash with a cheap stand-in; an instance with the app's real hasher signs these up.
    const real = await createSecondInstance(t, { passwordHasher: createArgon2Hasher() });
    const ids: number[] = [];
    try {
      for (const body of [newUser(), newUser()]) {
        ids.push((await real.inject({ method: "POST", url: "/api/v1/users", payload: body })).json().id);
      }
    } finally {
      await real.close();
    }
    const hashes = await Promise.all(
      ids.map(
        async (id) => (await t.db.database.db.select().from(users).where(eq(users.id, id)))[0]?.passwordHash,
      ),
    );
    for (const hash of hashes) {
      const [, type, , params] = (hash ?? "").split("$");
      expect(type).toBe("argon2id");
      expect(Object.fromEntries((params ?? "").split(",").map((kv) => kv.split("=")))).toEqual({
        m: "19456",
        t: "2",
        p: "1",
      });
    }
    expect(hashes[0]).not.toBe(hashes[1]);
  });

  it("refuses the same email again with 400 'already registered' (email_taken)", async () => {
    const first = newUser();
    expect((await signUp(first)).statusCode).toBe(201);
    const res = await signUp(newUser({ email: first.email }));
    expect(res.statusCode).toBe(400);
    expect(res.headers["content-type"]).toMatch(/^application\/problem\+json/);
    expect(res.json().detail).toContain("already registered");
    expect(res.json().code).toBe("email_taken");
  });

  it("treats emails case-insensitively", async () => {
    const first = newUser();
    expect((await signUp(first)).statusCode).toBe(201);
    const res = await signUp(newUser({ email: first.email.toUpperCase() }));
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe("email_taken");
  });

  it("refuses a duplicate username (username_taken)", async () => {
    const first = newUser();
    await signUp(first);
    const res = await signUp(newUser({ username: first.username }));
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe("username_taken");
  });

  it.each([
    ["a missing email", { username: "abc", password: "SecurePass123" }, ["body", "email"], "missing"],
    [
      "a malformed email",
      { email: "not-an-email", username: "abc", password: "SecurePass123" },
      ["body", "email"],
      "value_error.email",
    ],
    [
      "a 7-character password",
      { email: "x@example.com", username: "abc", password: "1234567" },
      ["body", "password"],
      "string_too_short",
    ],
    [
      "a 129-character password",
      { email: "x@example.com", username: "abc", password: "p".repeat(129) },
      ["body", "password"],
      "string_too_long",
    ],
    [
      "a username with spaces",
      { email: "x@example.com", username: "a b c", password: "SecurePass123" },
      ["body", "username"],
      "string_pattern_mismatch",
    ],
    [
      "a number as email",
      { email: 5, username: "abc", password: "SecurePass123" },
      ["body", "email"],
      "string_type",
    ],
  ])("answers %s with 422 naming the field", async (_case, body, loc, type) => {
    const res = await signUp(body);
    expect(res.statusCode).toBe(422);
    const problem = res.json();
    expect(problem.code).toBe("validation_error");
    expect(problem.errors).toContainEqual(expect.objectContaining({ loc, type }));
  });

  it("accepts passwords of 8 and 128 characters", async () => {
    expect((await signUp(newUser({ password: "kqzvbmtp" }))).statusCode).toBe(201);
    expect((await signUp(newUser({ password: "x".repeat(128) }))).statusCode).toBe(201);
  });

  it.each([["password"], ["12345678"], ["qwertyuiop"], ["Password"], ["IloveYou"], ["baseball"]])(
    "refuses %s, one of the 10,000 most common passwords (400 weak_password)",
    async (password) => {
      const res = await signUp(newUser({ password }));
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ code: "weak_password", detail: expect.stringMatching(/common/) });
    },
  );

  it("refuses a password containing the username or the email's local part, in any case", async () => {
    const withUsername = newUser();
    const res = await signUp({ ...withUsername, password: `${withUsername.username.toUpperCase()}!x9` });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe("weak_password");
    const withEmail = newUser({ email: `marguerite.${Date.now()}@example.com` });
    const local = withEmail.email.split("@")[0] ?? "";
    expect((await signUp({ ...withEmail, password: `9${local}` })).statusCode).toBe(400);
    // Not refused for sharing a letter or two with a very short name.
    expect(
      (await signUp(newUser({ email: `ab.${Date.now()}x@example.com`, password: "zq-Ab-7731" }))).statusCode,
    ).toBe(201);
  });

  it("applies the same rules to a new password on PATCH /users/me", async () => {
    const body = newUser();
    const created = await signUp(body);
    expect(created.statusCode).toBe(201);
    const token = (
      await t.app.inject({
        method: "POST",
        url: "/api/v1/auth/token",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        payload: new URLSearchParams({ username: body.email, password: body.password }).toString(),
      })
    ).json().access_token;
    const change = (password: string) =>
      t.app.inject({
        method: "PATCH",
        url: "/api/v1/users/me",
        headers: { authorization: `Bearer ${token}` },
        payload: { password, current_password: body.password },
      });
    expect((await change("iloveyou")).json().code).toBe("weak_password");
    expect((await change(`x-${body.username}-x`)).json().code).toBe("weak_password");
  });

  it("ignores fields a client may not set (no self-made admins)", async () => {
    const res = await signUp({ ...newUser(), role: "admin", is_active: false });
    expect(res.statusCode).toBe(201);
    expect(res.json().role).toBe("user");
  });

  it("answers a non-JSON body with a 4xx problem, not a 500", async () => {
    const res = await t.app.inject({
      method: "POST",
      url: "/api/v1/users",
      headers: { "content-type": "application/json" },
      payload: "{not json",
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ status: 400, request_id: expect.any(String) });
    const wrongType = await t.app.inject({
      method: "POST",
      url: "/api/v1/users",
      headers: { "content-type": "text/plain" },
      payload: "hello",
    });
    expect(wrongType.statusCode).toBe(415);
  });
});

describe("GET /api/v1/users/{id}", () => {
  it("shows the public profile only", async () => {
    const created = (await signUp(newUser())).json();
    const res = await t.app.inject({ url: `/api/v1/users/${created.id}` });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      id: created.id,
      username: created.username,
      created_at: created.created_at,
    });
  });

  it("answers an unknown id with 404 problem+json", async () => {
    const res = await t.app.inject({ url: "/api/v1/users/999999" });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ status: 404, code: "user_not_found", title: "Not Found" });
  });

  it.each(["abc", "0", "-1", "99999999999", "1.5"])("answers id %s with 422 on path.id", async (id) => {
    const res = await t.app.inject({ url: `/api/v1/users/${id}` });
    expect(res.statusCode).toBe(422);
    expect(res.json().errors[0].loc).toEqual(["path", "id"]);
  });
});
