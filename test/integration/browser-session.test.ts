import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bearer } from "../helpers/auth.js";
import { createTestApp, newUser, type TestApp } from "../helpers/test-app.js";

// The refresh token of a browser app lives in an HttpOnly cookie; refresh and logout read it
// there only with the CSRF header that a page of the app, and no other site, can produce.
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

type Cookies = Record<string, { value: string; attributes: string[] }>;

function cookiesOf(setCookie: string | string[] | undefined): Cookies {
  const cookies: Cookies = {};
  for (const line of [setCookie ?? []].flat()) {
    const [pair = "", ...attributes] = line.split(";").map((part) => part.trim());
    const [name = "", value = ""] = pair.split("=");
    cookies[name] = { value, attributes: attributes.map((a) => a.toLowerCase()) };
  }
  return cookies;
}

async function browserLogin(host = "localhost") {
  const user = newUser();
  await t.app.inject({ method: "POST", url: "/api/v1/users", payload: user });
  const res = await t.app.inject({
    method: "POST",
    url: "/api/v1/auth/token",
    headers: {
      host,
      "content-type": "application/x-www-form-urlencoded",
      "x-refresh-token-delivery": "cookie",
    },
    payload: new URLSearchParams({ username: user.email, password: user.password }).toString(),
  });
  expect(res.statusCode).toBe(200);
  return { res, cookies: cookiesOf(res.headers["set-cookie"]) };
}

const cookieRequest = (url: string, refresh: string, csrf?: string, host = "localhost") =>
  t.app.inject({
    method: "POST",
    url,
    headers: {
      host,
      cookie: `kaira_refresh=${refresh}; kaira_csrf=${csrf ?? ""}`,
      ...(csrf !== undefined ? { "x-csrf-token": csrf } : {}),
    },
    payload: {},
  });

describe("refresh token as a cookie", () => {
  it("puts the refresh token in an HttpOnly SameSite=Strict cookie on the auth path, not in the body", async () => {
    const { res, cookies } = await browserLogin();
    expect(res.json().refresh_token).toBeUndefined();
    expect(res.json().access_token).toEqual(expect.any(String));
    const refresh = cookies.kaira_refresh;
    expect(refresh?.value.length).toBeGreaterThan(20);
    expect(refresh?.attributes).toEqual(
      expect.arrayContaining(["httponly", "samesite=strict", "path=/api/v1/auth"]),
    );
    // Plain http on localhost: a Secure cookie would be dropped by the browser.
    expect(refresh?.attributes).not.toContain("secure");
    const csrf = cookies.kaira_csrf;
    expect(csrf?.attributes).not.toContain("httponly");
    expect(csrf?.attributes).toEqual(expect.arrayContaining(["samesite=strict", "path=/"]));
  });

  it("marks the cookies Secure on any other host", async () => {
    const { cookies } = await browserLogin("kaira.example.com");
    expect(cookies.kaira_refresh?.attributes).toContain("secure");
    expect(cookies.kaira_csrf?.attributes).toContain("secure");
  });

  it("refreshes from the cookie with the CSRF header and rotates both cookies", async () => {
    const { cookies } = await browserLogin();
    const refresh = cookies.kaira_refresh?.value as string;
    const csrf = cookies.kaira_csrf?.value as string;
    const res = await cookieRequest("/api/v1/auth/refresh", refresh, csrf);
    expect(res.statusCode).toBe(200);
    expect(res.json().refresh_token).toBeUndefined();
    const me = await t.app.inject({ url: "/api/v1/users/me", headers: bearer(res.json().access_token) });
    expect(me.statusCode).toBe(200);
    const rotated = cookiesOf(res.headers["set-cookie"]);
    expect(rotated.kaira_refresh?.value).not.toBe(refresh);
    expect(rotated.kaira_csrf?.value).not.toBe(csrf);
    // The spent cookie's CSRF token does not fit the new cookie.
    const stale = await cookieRequest("/api/v1/auth/refresh", rotated.kaira_refresh?.value as string, csrf);
    expect(stale.statusCode).toBe(403);
  });

  it("refuses a cookie-authenticated refresh without the CSRF header, or with a wrong one", async () => {
    const { cookies } = await browserLogin();
    const refresh = cookies.kaira_refresh?.value as string;
    const missing = await cookieRequest("/api/v1/auth/refresh", refresh);
    expect(missing.statusCode).toBe(403);
    expect(missing.json().code).toBe("csrf_failed");
    const wrong = await cookieRequest("/api/v1/auth/refresh", refresh, "x".repeat(43));
    expect(wrong.statusCode).toBe(403);
    // Refused before the token was touched: it still works with the right header.
    const right = await cookieRequest("/api/v1/auth/refresh", refresh, cookies.kaira_csrf?.value);
    expect(right.statusCode).toBe(200);
  });

  it("logs out from the cookie: the session ends and both cookies are cleared", async () => {
    const { res, cookies } = await browserLogin();
    const refresh = cookies.kaira_refresh?.value as string;
    const csrf = cookies.kaira_csrf?.value as string;
    const refused = await cookieRequest("/api/v1/auth/logout", refresh);
    expect(refused.statusCode).toBe(403);
    const out = await cookieRequest("/api/v1/auth/logout", refresh, csrf);
    expect(out.statusCode).toBe(204);
    const cleared = cookiesOf(out.headers["set-cookie"]);
    expect(cleared.kaira_refresh?.value).toBe("");
    expect(cleared.kaira_refresh?.attributes).toContain("max-age=0");
    expect(cleared.kaira_csrf?.attributes).toContain("max-age=0");
    const me = await t.app.inject({ url: "/api/v1/users/me", headers: bearer(res.json().access_token) });
    expect(me.statusCode).toBe(401);
    expect((await cookieRequest("/api/v1/auth/refresh", refresh, csrf)).statusCode).toBe(401);
  });

  it("keeps API clients as they were: body tokens, and 401 when no token is presented at all", async () => {
    const none = await t.app.inject({ method: "POST", url: "/api/v1/auth/refresh", payload: {} });
    expect(none.statusCode).toBe(401);
    expect(none.json().code).toBe("invalid_refresh_token");
  });

  it("documents the option and the CSRF header in the OpenAPI document", async () => {
    const doc = (await t.app.inject({ url: "/openapi.json" })).json();
    const token = doc.paths["/api/v1/auth/token"].post;
    expect(token.parameters.map((p: { name: string }) => p.name)).toContain("x-refresh-token-delivery");
    const refresh = doc.paths["/api/v1/auth/refresh"].post;
    expect(refresh.parameters.map((p: { name: string }) => p.name)).toContain("x-csrf-token");
  });
});
