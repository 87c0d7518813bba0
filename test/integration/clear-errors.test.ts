import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../helpers/test-app.js";

// What a newcomer trying the API with curl runs into first: each refusal must say what to
// send instead.
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ BODY_LIMIT_BYTES: "2048" });
});
afterAll(() => t.close());

const signUp = { email: "clear@example.com", username: "clear", password: "SecurePass123" };

describe("the landing page", () => {
  it("is served at /, linking to the docs", async () => {
    const res = await t.app.inject({ url: "/" });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^text\/html/);
    expect(res.body).toContain('href="/docs"');
  });
});

describe("refused bodies", () => {
  it("states the limit in a 413", async () => {
    const res = await t.app.inject({
      method: "POST",
      url: "/api/v1/users",
      headers: { "content-type": "application/json" },
      payload: JSON.stringify({ ...signUp, username: "x".repeat(4000) }),
    });
    expect(res.statusCode).toBe(413);
    expect(res.json()).toMatchObject({ code: "ctp_body_too_large", status: 413 });
    expect(res.json().detail).toContain("2 KiB (2048 bytes)");
  });

  it("lists the accepted types in a 415", async () => {
    const res = await t.app.inject({
      method: "POST",
      url: "/api/v1/users",
      headers: { "content-type": "text/xml" },
      payload: "<user/>",
    });
    expect(res.statusCode).toBe(415);
    expect(res.json().detail).toBe("Content-Type text/xml is not accepted here; send application/json");
  });

  it("answers JSON sent as a form (curl -d) with a 415 saying to send application/json", async () => {
    const res = await t.app.inject({
      method: "POST",
      url: "/api/v1/users",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      payload: JSON.stringify(signUp),
    });
    expect(res.statusCode).toBe(415);
    expect(res.json().detail).toContain("Content-Type: application/json");
    expect(res.json().errors).toBeUndefined();
  });

  it("answers a body without any content-type with a 415 naming application/json", async () => {
    const res = await t.app.inject({
      method: "POST",
      url: "/api/v1/users",
      headers: { "content-type": undefined },
      payload: Buffer.from(JSON.stringify(signUp)),
    });
    expect(res.statusCode).toBe(415);
    expect(res.json().detail).toBe(
      "The request has a body but no Content-Type header; send it as application/json",
    );
  });
});

describe("token endpoint errors", () => {
  const token = (form: Record<string, string>) =>
    t.app.inject({
      method: "POST",
      url: "/api/v1/auth/token",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      payload: new URLSearchParams(form).toString(),
    });

  beforeAll(async () => {
    const res = await t.app.inject({ method: "POST", url: "/api/v1/users", payload: signUp });
    expect(res.statusCode).toBe(201);
  });

  it("carries OAuth2 error and error_description alongside the problem", async () => {
    const wrong = await token({ username: signUp.email, password: "wrong-password" });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.headers["content-type"]).toMatch(/^application\/problem\+json/);
    expect(wrong.json()).toMatchObject({
      code: "invalid_credentials",
      error: "invalid_grant",
      error_description: wrong.json().detail,
    });

    const scope = await token({ username: signUp.email, password: signUp.password, scope: "admin" });
    expect(scope.statusCode).toBe(400);
    expect(scope.json()).toMatchObject({ code: "invalid_scope", error: "invalid_scope" });

    const grant = await token({ grant_type: "client_credentials", username: "a", password: "b" });
    expect(grant.statusCode).toBe(422);
    expect(grant.json()).toMatchObject({ error: "unsupported_grant_type" });

    const missing = await token({ username: signUp.email });
    expect(missing.statusCode).toBe(422);
    expect(missing.json()).toMatchObject({
      error: "invalid_request",
      errors: [{ loc: ["body", "password"] }],
    });

    const refresh = await t.app.inject({
      method: "POST",
      url: "/api/v1/auth/refresh",
      payload: { refresh_token: "not-a-token" },
    });
    expect(refresh.statusCode).toBe(401);
    expect(refresh.json()).toMatchObject({ code: "invalid_refresh_token", error: "invalid_grant" });
  });

  it("leaves other endpoints' problems without OAuth2 fields", async () => {
    const res = await t.app.inject({ url: "/api/v1/users/me" });
    expect(res.statusCode).toBe(401);
    expect(res.json().error).toBeUndefined();
  });
});

describe("the OpenAPI document", () => {
  it("lists the WebSocket route as an upgrade", async () => {
    const doc = (await t.app.inject({ url: "/openapi.json" })).json();
    const ws = doc.paths["/api/v1/ws"]?.get;
    expect(ws).toBeDefined();
    expect(ws.tags).toEqual(["live"]);
    expect(Object.keys(ws.responses)).toContain("101");
    expect(
      doc.paths["/api/v1/auth/token"].post.responses["401"].content["application/problem+json"].schema,
    ).toEqual({
      $ref: "#/components/schemas/OAuthProblem",
    });
  });

  it("still upgrades the WebSocket route, and answers a plain GET with 404", async () => {
    expect((await t.app.inject({ url: "/api/v1/ws" })).statusCode).toBe(404);
  });
});

describe("Node 20 pins", () => {
  it("inject still sends cookies (light-my-request on cookie 1.x)", async () => {
    const res = await t.app.inject({ url: "/health/live", cookies: { session: "abc" } });
    expect(res.statusCode).toBe(200);
  });
});
