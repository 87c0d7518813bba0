import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import type { FastifyInstance } from "fastify";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApp } from "../../src/app.js";
import { loadConfig } from "../../src/config.js";
import { createMemoryCache } from "../../src/platform/cache/memory-cache.js";
import { redactUrl } from "../../src/shared/redaction.js";
import { bearer, type Session, signUpAndLogin } from "../helpers/auth.js";
import { upload } from "../helpers/files.js";
import { createTestDatabase, type TestDatabase } from "../helpers/test-database.js";

// What responses promise about themselves: authenticated JSON is never cached, tokens sent in
// a URL never reach the access log, and the API documents are served only when enabled.
let testDb: TestDatabase;
let app: FastifyInstance;
let alice: Session;
const lines: Record<string, unknown>[] = [];

const build = (env: Record<string, string>, logger?: pino.Logger) =>
  buildApp(
    loadConfig({
      NODE_ENV: "test",
      RATE_LIMIT_PER_MINUTE: "0",
      DATA_DIR: mkdtempSync(join(tmpdir(), "kaira-policy-")),
      ...env,
    }),
    { database: testDb.database, cache: createMemoryCache(), ...(logger ? { logger } : {}) },
  );

beforeAll(async () => {
  testDb = await createTestDatabase();
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()));
      done();
    },
  });
  app = await build({}, pino({ level: "info" }, sink));
  alice = await signUpAndLogin(app);
});
afterAll(async () => {
  await app.close();
  await testDb.drop();
});

describe("Cache-Control", () => {
  it("is no-store on every JSON answer to a request with credentials, errors included", async () => {
    for (const url of ["/api/v1/users/me", "/api/v1/posts", "/api/v1/transfers", "/api/v1/posts/999999"]) {
      const res = await app.inject({ url, headers: bearer(alice.access) });
      expect(res.headers["cache-control"], url).toBe("no-store");
    }
    const bad = await app.inject({ url: "/api/v1/users/me", headers: bearer("not-a-token") });
    expect(bad.statusCode).toBe(401);
    expect(bad.headers["cache-control"]).toBe("no-store");
  });

  it("keeps the files' own policy for their bytes", async () => {
    const created = await upload(app, alice.access, "a.txt", Buffer.from("hello"));
    expect(created.headers["cache-control"]).toBe("no-store");
    const bytes = await app.inject({
      url: `/api/v1/files/${created.json().id}`,
      headers: bearer(alice.access),
    });
    expect(bytes.statusCode).toBe(200);
    expect(bytes.headers["cache-control"]).toBe("private, no-cache");
  });
});

describe("access log", () => {
  it("redacts tokens and other credentials sent in the query string", async () => {
    await app.inject({ url: `/api/v1/posts?access_token=${alice.access}&limit=5` });
    await app.inject({ url: `/api/v1/posts?tag=x&refresh_token=${alice.refresh}&api_key=k1&Secret=s2` });
    await app.inject({ url: `/api/v1/posts?tag=${alice.access}` });
    // Credentials under neutral names, without a name, or after a scheme word.
    await app.inject({ url: `/api/v1/posts?${alice.access}&limit=2` });
    await app.inject({ url: `/api/v1/posts?x=Bearer%20${alice.access}` });
    await app.inject({ url: `/api/v1/posts?rt=${alice.refresh}` });
    const logged = JSON.stringify(lines);
    expect(logged).not.toContain(alice.access);
    expect(logged).not.toContain(alice.refresh);
    const urls = lines.filter((line) => line.msg === "request completed").map((line) => line.url);
    expect(urls).toContain("/api/v1/posts?access_token=[redacted]&limit=5");
    expect(urls).toContain(
      "/api/v1/posts?tag=x&refresh_token=[redacted]&api_key=[redacted]&Secret=[redacted]",
    );
    expect(urls).toContain("/api/v1/posts?tag=[redacted]");
    expect(urls).toContain("/api/v1/posts?[redacted]&limit=2");
    expect(urls).toContain("/api/v1/posts?x=[redacted]");
    expect(urls).toContain("/api/v1/posts?rt=[redacted]");
  });

  it("leaves other URLs as they were", () => {
    expect(redactUrl("/api/v1/posts")).toBe("/api/v1/posts");
    expect(redactUrl("/api/v1/search/posts?q=tokens&limit=2&x")).toBe(
      "/api/v1/search/posts?q=tokens&limit=2&x",
    );
    expect(redactUrl("/a?%E0%A4%A=1&access%5Ftoken=abc")).toBe("/a?%E0%A4%A=1&access%5Ftoken=[redacted]");
    // A cursor is not a credential, and a long value is judged in linear time.
    expect(redactUrl("/api/v1/posts?cursor=WyIyMDI0LTAxLTAxVDAwOjAwOjAwLjAwMFoiLDFd")).toBe(
      "/api/v1/posts?cursor=WyIyMDI0LTAxLTAxVDAwOjAwOjAwLjAwMFoiLDFd",
    );
    const long = `/a?q=${"eyJ".repeat(20_000)}`;
    const started = performance.now();
    expect(redactUrl(long)).toBe(long);
    expect(performance.now() - started).toBeLessThan(500);
  });
});

describe("DOCS_ENABLED", () => {
  it("serves /docs, /openapi.json and /asyncapi.json by default and hides them when off", async () => {
    expect((await app.inject({ url: "/openapi.json" })).statusCode).toBe(200);
    expect((await app.inject({ url: "/asyncapi.json" })).statusCode).toBe(200);
    expect((await app.inject({ url: "/docs" })).statusCode).toBe(200);
    const hidden = await build({ DOCS_ENABLED: "false" });
    try {
      for (const url of [
        "/openapi.json",
        "/asyncapi.json",
        "/docs",
        "/docs/json",
        "/docs/static/index.html",
      ]) {
        const res = await hidden.inject({ url });
        expect(res.statusCode, url).toBe(404);
        expect(res.headers["content-type"]).toMatch(/^application\/problem\+json/);
      }
      // The landing page does not link to what is not there.
      expect((await app.inject({ url: "/" })).body).toContain('href="/docs"');
      const landing = await hidden.inject({ url: "/" });
      expect(landing.statusCode).toBe(200);
      expect(landing.body).toContain("<h1>Kaira</h1>");
      expect(landing.body).not.toContain('href="/docs"');
      expect(landing.body).not.toContain('href="/openapi.json"');
    } finally {
      await hidden.close();
    }
  });
});
