import { afterAll, beforeAll, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../helpers/test-app.js";

// A file of its own: it breaks its database on purpose.
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.app.close();
  await t.db.drop().catch(() => {});
});

it("answers with a 500 that leaks nothing and a 503 readiness when the database is gone", async () => {
  await t.db.database.close();
  const res = await t.app.inject({ url: "/api/v1/users/1", headers: { "x-request-id": "db-down-1" } });
  expect(res.statusCode).toBe(500);
  const problem = res.json();
  expect(problem).toMatchObject({ status: 500, code: "internal_error", request_id: "db-down-1" });
  expect(res.body).not.toMatch(/select|users|pglite|pool|stack|at /i);
  const ready = await t.app.inject({ url: "/health/ready" });
  expect(ready.statusCode).toBe(503);
  expect(ready.json().checks.database).toEqual({ status: "fail", error: "unavailable" });
  expect((await t.app.inject({ url: "/health/live" })).statusCode).toBe(200);
});
