import { createHash } from "node:crypto";
import bcrypt from "bcryptjs";
import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createArgon2Hasher } from "../../src/modules/auth/password-hasher.js";
import { refreshTokens, users } from "../../src/platform/database/schema.js";
import { bearer, login, signUpAndLogin } from "../helpers/auth.js";
import { createSecondInstance, createTestApp, newUser, type TestApp } from "../helpers/test-app.js";

const ADMIN = { email: "root-admin@example.com", password: "AdminPass-123456" };
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password });
});
afterAll(() => t.close());

const me = (token: string) => t.app.inject({ url: "/api/v1/users/me", headers: bearer(token) });
const refresh = (token: string) =>
  t.app.inject({ method: "POST", url: "/api/v1/auth/refresh", payload: { refresh_token: token } });

describe("POST /api/v1/auth/token", () => {
  it("logs in with email or username and returns the contract's token response", async () => {
    const user = newUser();
    await t.app.inject({ method: "POST", url: "/api/v1/users", payload: user });
    for (const name of [user.email, user.username, user.email.toUpperCase()]) {
      const res = await login(t.app, name, user.password);
      expect(res.statusCode).toBe(200);
      expect(res.headers["cache-control"]).toBe("no-store");
      const body = res.json();
      expect(body).toMatchObject({
        token_type: "bearer",
        expires_in: 1800,
        scope: "posts:write files:write transfers:write",
      });
      expect(body.access_token.split(".")).toHaveLength(3);
      expect(body.refresh_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    }
  });

  it("answers a wrong password and an unknown user identically with 401", async () => {
    const user = newUser();
    await t.app.inject({ method: "POST", url: "/api/v1/users", payload: user });
    const wrong = await login(t.app, user.email, "WrongPass123");
    const unknown = await login(t.app, "nobody-here@example.com", "WrongPass123");
    for (const res of [wrong, unknown]) {
      expect(res.statusCode).toBe(401);
      expect(res.headers["www-authenticate"]).toMatch(/^Bearer/);
    }
    const strip = (body: Record<string, unknown>) => ({ ...body, request_id: undefined });
    expect(strip(wrong.json())).toEqual(strip(unknown.json()));
    expect(wrong.json().code).toBe("invalid_credentials");
  });

  it("verifies the password exactly as received", async () => {
    const user = newUser({ password: `${"Ab1".repeat(42)}xy` });
    await t.app.inject({ method: "POST", url: "/api/v1/users", payload: user });
    expect((await login(t.app, user.email, user.password.slice(0, -1))).statusCode).toBe(401);
    expect((await login(t.app, user.email, user.password.toUpperCase())).statusCode).toBe(401);
    expect((await login(t.app, user.email, user.password)).statusCode).toBe(200);
  });

  it("has no default accounts", async () => {
    for (const [name, password] of [
      ["admin", "admin"],
      ["root", "root"],
      ["sa", "sa"],
    ] as const) {
      expect((await login(t.app, name, password)).statusCode).toBe(401);
    }
  });

  it("narrows scopes to those asked for and refuses scopes the role does not allow", async () => {
    const user = newUser();
    await t.app.inject({ method: "POST", url: "/api/v1/users", payload: user });
    const narrowed = await login(t.app, user.email, user.password, "transfers:write");
    expect(narrowed.json().scope).toBe("transfers:write");
    const admin = await login(t.app, user.email, user.password, "admin");
    expect(admin.statusCode).toBe(400);
    expect(admin.json().code).toBe("invalid_scope");
    const bogus = await login(t.app, user.email, user.password, "everything");
    expect(bogus.statusCode).toBe(400);
  });

  it("validates the form: missing fields are 422 naming them; JSON is not a form", async () => {
    const res = await t.app.inject({
      method: "POST",
      url: "/api/v1/auth/token",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      payload: "username=someone",
    });
    expect(res.statusCode).toBe(422);
    expect(res.json().errors[0].loc).toEqual(["body", "password"]);
    const grant = await t.app.inject({
      method: "POST",
      url: "/api/v1/auth/token",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      payload: "grant_type=client_credentials&username=a&password=b",
    });
    expect(grant.statusCode).toBe(422);
  });

  it("upgrades a bcrypt hash from the FastAPI system to argon2id on login", async () => {
    // Tests hash with a cheap stand-in; an instance with the app's real hasher does the logins.
    const real = await createSecondInstance(t, { passwordHasher: createArgon2Hasher() });
    try {
      const user = newUser();
      const created = (await real.inject({ method: "POST", url: "/api/v1/users", payload: user })).json();
      // A bcrypt hash of "SecurePass123" at cost 10, the format passlib stored.
      const bcryptHash = await bcrypt.hash("SecurePass123", 10);
      expect(bcryptHash).toMatch(/^\$2[ab]\$10\$/);
      await t.db.database.db.update(users).set({ passwordHash: bcryptHash }).where(eq(users.id, created.id));
      expect((await login(real, user.email, "WrongPass123")).statusCode).toBe(401);
      expect((await login(real, user.email, "SecurePass123")).statusCode).toBe(200);
      const [row] = await t.db.database.db.select().from(users).where(eq(users.id, created.id));
      expect(row?.passwordHash).toMatch(/^\$argon2id\$/);
      expect((await login(real, user.email, "SecurePass123")).statusCode).toBe(200);
    } finally {
      await real.close();
    }
  });
});

describe("refresh tokens", () => {
  it("expired and revoked rows are cleaned up; live ones stay", async () => {
    const { createRefreshTokensRepository } = await import(
      "../../src/modules/auth/refresh-tokens.repository.js"
    );
    const repository = createRefreshTokensRepository(t.db.database.db);
    const familyOf = async (token: string) => {
      const hash = createHash("sha256").update(token).digest("hex");
      return (await repository.findByHash(hash))?.familyId ?? "";
    };
    const live = await signUpAndLogin(t.app);
    const revoked = await signUpAndLogin(t.app);
    await t.app.inject({
      method: "POST",
      url: "/api/v1/auth/logout",
      payload: { refresh_token: revoked.refresh },
    });
    // A revoked row outlives every access token of its session (it backs their revocation).
    const revokedFamily = await familyOf(revoked.refresh);
    expect(await repository.isFamilyRevoked(revokedFamily)).toBe(true);
    expect(await repository.isFamilyRevoked(await familyOf(live.refresh))).toBe(false);
    await repository.deleteExpired(new Date(Date.now() + 1000));
    expect(await repository.isFamilyRevoked(revokedFamily)).toBe(true);
    const deleted = await repository.deleteExpired(new Date(Date.now() + 26 * 3_600_000));
    expect(deleted).toBeGreaterThanOrEqual(1);
    expect(await repository.isFamilyRevoked(revokedFamily)).toBe(false);
    expect((await refresh(live.refresh)).statusCode).toBe(200);
    const later = await repository.deleteExpired(new Date(Date.now() + 15 * 86_400_000));
    expect(later).toBeGreaterThanOrEqual(2);
  });

  it("rotate: the old token is spent, reuse revokes the whole family", async () => {
    const s = await signUpAndLogin(t.app);
    const first = await refresh(s.refresh);
    expect(first.statusCode).toBe(200);
    const r2 = first.json().refresh_token;
    expect(r2).not.toBe(s.refresh);
    expect((await me(first.json().access_token)).statusCode).toBe(200);

    // Past the double-refresh leeway (REFRESH_REUSE_LEEWAY_SECONDS), a replay is theft.
    await t.db.database.db
      .update(refreshTokens)
      .set({ usedAt: sql`now() - interval '1 minute'` })
      .where(eq(refreshTokens.tokenHash, createHash("sha256").update(s.refresh).digest("hex")));
    const replay = await refresh(s.refresh);
    expect(replay.statusCode).toBe(401);
    expect(replay.json().code).toBe("invalid_refresh_token");
    expect((await refresh(r2)).statusCode).toBe(401); // the family is gone
  });

  it("logout revokes the session; unknown tokens are ignored", async () => {
    const s = await signUpAndLogin(t.app);
    const out = await t.app.inject({
      method: "POST",
      url: "/api/v1/auth/logout",
      payload: { refresh_token: s.refresh },
    });
    expect(out.statusCode).toBe(204);
    expect((await refresh(s.refresh)).statusCode).toBe(401);
    const unknown = await t.app.inject({
      method: "POST",
      url: "/api/v1/auth/logout",
      payload: { refresh_token: "nope" },
    });
    expect(unknown.statusCode).toBe(204);
  });

  it("refuses garbage and a refresh token used as an access token", async () => {
    expect((await refresh("garbage")).statusCode).toBe(401);
    const s = await signUpAndLogin(t.app);
    expect((await me(s.refresh)).statusCode).toBe(401);
  });

  it("keeps the narrowed scope across refreshes", async () => {
    const s = await signUpAndLogin(t.app, "files:write");
    const res = await refresh(s.refresh);
    expect(res.json().scope).toBe("files:write");
  });
});

describe("users/me", () => {
  it("needs a token: 401 with WWW-Authenticate", async () => {
    const res = await t.app.inject({ url: "/api/v1/users/me" });
    expect(res.statusCode).toBe(401);
    expect(res.headers["www-authenticate"]).toMatch(/^Bearer/);
    expect(
      (await t.app.inject({ url: "/api/v1/users/me", headers: { authorization: "Basic abc" } })).statusCode,
    ).toBe(401);
  });

  it("shows the caller's account with balance", async () => {
    const s = await signUpAndLogin(t.app);
    const res = await me(s.access);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      id: s.id,
      email: s.email,
      username: s.username,
      role: "user",
      email_verified: false,
      balance: 0,
      created_at: expect.any(String),
    });
  });

  it("changes the username; a taken one is 400", async () => {
    const a = await signUpAndLogin(t.app);
    const b = await signUpAndLogin(t.app);
    const renamed = await t.app.inject({
      method: "PATCH",
      url: "/api/v1/users/me",
      headers: bearer(a.access),
      payload: { username: `${a.username.slice(0, 24)}_new` },
    });
    expect(renamed.statusCode).toBe(200);
    const taken = await t.app.inject({
      method: "PATCH",
      url: "/api/v1/users/me",
      headers: bearer(a.access),
      payload: { username: b.username },
    });
    expect(taken.statusCode).toBe(400);
    expect(taken.json().code).toBe("username_taken");
  });

  it("changes the password only with the current one, and revokes at once", async () => {
    const s = await signUpAndLogin(t.app);
    const other = (await login(t.app, s.email, s.password)).json(); // a second device
    const patch = (payload: object) =>
      t.app.inject({ method: "PATCH", url: "/api/v1/users/me", headers: bearer(s.access), payload });

    expect((await patch({ password: "NewPass-98765" })).json().code).toBe("current_password_required");
    expect((await patch({ password: "NewPass-98765", current_password: "wrong-one" })).json().code).toBe(
      "invalid_current_password",
    );
    const changed = await patch({ password: "NewPass-98765", current_password: s.password });
    expect(changed.statusCode).toBe(200);

    // Every access token issued before fails at once, not at expiry.
    expect((await me(s.access)).statusCode).toBe(401);
    expect((await me(other.access_token)).statusCode).toBe(401);
    // The other session is over; this session refreshes into a working token.
    expect((await refresh(other.refresh_token)).statusCode).toBe(401);
    const renewed = await refresh(s.refresh);
    expect(renewed.statusCode).toBe(200);
    expect((await me(renewed.json().access_token)).statusCode).toBe(200);
    expect((await login(t.app, s.email, s.password)).statusCode).toBe(401);
    expect((await login(t.app, s.email, "NewPass-98765")).statusCode).toBe(200);
  });
});

describe("across instances", () => {
  it("a password change through one instance revokes tokens on another at once", async () => {
    const other = await createSecondInstance(t);
    try {
      const s = await signUpAndLogin(t.app);
      const onOther = () => other.inject({ url: "/api/v1/users/me", headers: bearer(s.access) });
      expect((await onOther()).statusCode).toBe(200); // now cached on the other instance too
      const changed = await t.app.inject({
        method: "PATCH",
        url: "/api/v1/users/me",
        headers: bearer(s.access),
        payload: { password: "Another-Pass-2468", current_password: s.password },
      });
      expect(changed.statusCode).toBe(200);
      expect((await onOther()).statusCode).toBe(401);
    } finally {
      await other.close();
    }
  });
});

describe("admin", () => {
  const adminToken = async () =>
    (await login(t.app, ADMIN.email, ADMIN.password)).json().access_token as string;

  it("is bootstrapped from ADMIN_EMAIL with every scope", async () => {
    const res = await login(t.app, ADMIN.email, ADMIN.password);
    expect(res.statusCode).toBe(200);
    expect(res.json().scope.split(" ")).toContain("admin");
    expect((await me(res.json().access_token)).json()).toMatchObject({
      role: "admin",
      username: "root-admin",
    });
  });

  it("lists users page by page; users get 403", async () => {
    const token = await adminToken();
    const page = await t.app.inject({ url: "/api/v1/users?limit=2", headers: bearer(token) });
    expect(page.statusCode).toBe(200);
    expect(page.json().items).toHaveLength(2);
    const next = await t.app.inject({
      url: `/api/v1/users?limit=2&cursor=${page.json().next_cursor}`,
      headers: bearer(token),
    });
    expect(next.json().items[0].id).toBeGreaterThan(page.json().items[1].id);
    const user = await signUpAndLogin(t.app);
    const denied = await t.app.inject({ url: "/api/v1/users", headers: bearer(user.access) });
    expect(denied.statusCode).toBe(403);
    expect(denied.json().code).toBe("insufficient_scope");
  });

  it("sees email and role on profiles, as the user themself does; others do not", async () => {
    const a = await signUpAndLogin(t.app);
    const b = await signUpAndLogin(t.app);
    const url = `/api/v1/users/${a.id}`;
    expect((await t.app.inject({ url })).json()).not.toHaveProperty("email");
    expect((await t.app.inject({ url, headers: bearer(b.access) })).json()).not.toHaveProperty("email");
    expect((await t.app.inject({ url, headers: bearer(a.access) })).json()).toMatchObject({
      email: a.email,
      role: "user",
    });
    expect((await t.app.inject({ url, headers: bearer(await adminToken()) })).json()).toMatchObject({
      email: a.email,
    });
    expect((await t.app.inject({ url, headers: bearer("not.a.token") })).statusCode).toBe(401);
  });

  it("deactivation and role changes revoke the user's tokens at once", async () => {
    const token = await adminToken();
    const s = await signUpAndLogin(t.app);
    const promote = await t.app.inject({
      method: "PATCH",
      url: `/api/v1/users/${s.id}`,
      headers: bearer(token),
      payload: { role: "admin" },
    });
    expect(promote.statusCode).toBe(200);
    expect(promote.json()).toMatchObject({ role: "admin", is_active: true });
    expect((await me(s.access)).statusCode).toBe(401);
    const relogin = await login(t.app, s.email, s.password);
    expect(relogin.json().scope).toContain("admin");

    const deactivate = await t.app.inject({
      method: "PATCH",
      url: `/api/v1/users/${s.id}`,
      headers: bearer(token),
      payload: { is_active: false },
    });
    expect(deactivate.json().is_active).toBe(false);
    expect((await me(relogin.json().access_token)).statusCode).toBe(401);
    expect((await refresh(relogin.json().refresh_token)).statusCode).toBe(401);
    expect((await login(t.app, s.email, s.password)).statusCode).toBe(401);
  });

  it("refuses admin routes to users (403) and unknown users (404)", async () => {
    const user = await signUpAndLogin(t.app);
    const res = await t.app.inject({
      method: "PATCH",
      url: `/api/v1/users/${user.id}`,
      headers: bearer(user.access),
      payload: { role: "admin" },
    });
    expect(res.statusCode).toBe(403);
    const missing = await t.app.inject({
      method: "PATCH",
      url: "/api/v1/users/99999999",
      headers: bearer(await adminToken()),
      payload: { is_active: false },
    });
    expect(missing.statusCode).toBe(404);
  });

  it("keeps an active admin: the last one cannot be demoted or deactivated (409 last_admin)", async () => {
    const token = await adminToken();
    const rootId = (await me(token)).json().id;
    const patch = (id: number, bearerToken: string, payload: object) =>
      t.app.inject({ method: "PATCH", url: `/api/v1/users/${id}`, headers: bearer(bearerToken), payload });
    for (const payload of [{ role: "user" }, { is_active: false }]) {
      const res = await patch(rootId, token, payload);
      expect(res.statusCode, res.body).toBe(409);
      expect(res.json().code).toBe("last_admin");
    }
    expect((await me(token)).json()).toMatchObject({ role: "admin" });
    // With a second admin, either may step down.
    const s = await signUpAndLogin(t.app);
    expect((await patch(s.id, token, { role: "admin" })).statusCode).toBe(200);
    const second = (await login(t.app, s.email, s.password)).json().access_token as string;
    expect((await patch(s.id, second, { role: "user" })).statusCode).toBe(200);
    expect((await patch(rootId, await adminToken(), { role: "user" })).statusCode).toBe(409);
  });
});

describe("OpenAPI security", () => {
  it("points the OAuth2 password flow at the token endpoint and lists scopes per route", async () => {
    const doc = (await t.app.inject({ url: "/openapi.json" })).json();
    const scheme = doc.components.securitySchemes.OAuth2;
    expect(scheme.flows.password.tokenUrl).toBe("/api/v1/auth/token");
    expect(Object.keys(scheme.flows.password.scopes)).toEqual([
      "posts:write",
      "files:write",
      "transfers:write",
      "admin",
    ]);
    expect(doc.paths["/api/v1/posts"].post.security).toEqual([{ OAuth2: ["posts:write"] }]);
    expect(doc.paths["/api/v1/users"].get.security).toEqual([{ OAuth2: ["admin"] }]);
    expect(doc.paths["/api/v1/users/me"].get.responses["401"]).toBeDefined();
  });
});
