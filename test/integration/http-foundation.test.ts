import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../helpers/test-app.js";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({
    CORS_ORIGINS: "https://app.example.com",
    TRUSTED_HOSTS: "localhost,api.example.com,*.kaira.test",
  });
});
afterAll(() => t.close());

describe("request ids", () => {
  it("puts a fresh x-request-id on every response, also in the problem body", async () => {
    const res = await t.app.inject({ url: "/api/v1/users/999999" });
    expect(res.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.json().request_id).toBe(res.headers["x-request-id"]);
  });

  it("echoes a sane incoming id and replaces an insane one", async () => {
    const echoed = await t.app.inject({ url: "/health/live", headers: { "x-request-id": "trace-abc.123" } });
    expect(echoed.headers["x-request-id"]).toBe("trace-abc.123");
    const replaced = await t.app.inject({ url: "/health/live", headers: { "x-request-id": "bad id\n{}" } });
    // Replaced by a fresh UUID (which may itself contain the hex letters "bad", so compare whole).
    expect(replaced.headers["x-request-id"]).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
    );
  });
});

describe("routing", () => {
  it("ignores trailing slashes", async () => {
    expect((await t.app.inject({ url: "/api/v1/posts/" })).statusCode).toBe(200);
    expect((await t.app.inject({ url: "/health/live/" })).statusCode).toBe(200);
  });

  it("answers unknown routes and methods with a 404 problem", async () => {
    for (const [method, url] of [
      ["GET", "/nope"],
      ["GET", "/.git/config"],
      ["GET", "/.env"],
      ["DELETE", "/health/live"],
    ] as const) {
      const res = await t.app.inject({ method, url });
      expect(res.statusCode).toBe(404);
      expect(res.headers["content-type"]).toMatch(/^application\/problem\+json/);
      expect(res.json().code).toBe("not_found");
    }
  });

  it("serves static files", async () => {
    const res = await t.app.inject({ url: "/static/index.html" });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^text\/html/);
    expect(res.body).toContain("Kaira");
  });

  it("sends baseline security headers", async () => {
    const res = await t.app.inject({ url: "/health/live" });
    expect(res.headers).toMatchObject({
      "x-content-type-options": "nosniff",
      "x-frame-options": "DENY",
      "referrer-policy": "no-referrer",
    });
    expect(res.headers["x-powered-by"]).toBeUndefined();
  });

  it("refuses a body over the limit with 413", async () => {
    const res = await t.app.inject({
      method: "POST",
      url: "/api/v1/users",
      headers: { "content-type": "application/json" },
      payload: JSON.stringify({
        email: "a@example.com",
        username: "abc",
        password: "x".repeat(2 * 1024 * 1024),
      }),
    });
    expect(res.statusCode).toBe(413);
    expect(res.json().status).toBe(413);
  });
});

describe("CORS allow-list", () => {
  it("allows a listed origin, preflight included", async () => {
    const res = await t.app.inject({
      method: "OPTIONS",
      url: "/api/v1/users",
      headers: {
        origin: "https://app.example.com",
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type",
      },
    });
    expect(res.statusCode).toBe(204);
    expect(res.headers["access-control-allow-origin"]).toBe("https://app.example.com");
  });

  it("does not reflect an unlisted origin", async () => {
    const res = await t.app.inject({ url: "/api/v1/posts", headers: { origin: "http://evil.example" } });
    expect(res.headers["access-control-allow-origin"]).toBeUndefined();
  });
});

describe("trusted hosts", () => {
  it("accepts listed hosts and wildcard subdomains, with or without a port", async () => {
    for (const host of ["localhost", "api.example.com:9000", "eu.kaira.test"]) {
      expect((await t.app.inject({ url: "/health/live", headers: { host } })).statusCode).toBe(200);
    }
  });

  it("refuses other hosts with 400 invalid_host", async () => {
    const res = await t.app.inject({ url: "/health/live", headers: { host: "evil.example" } });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe("invalid_host");
  });
});

interface DocumentedResponse {
  content?: Record<
    string,
    { schema?: unknown; example?: unknown; examples?: Record<string, { value: unknown }> }
  >;
}

interface DocumentOperation {
  where: string;
  operationId?: string;
  summary?: string;
  security?: unknown[];
  responses: Record<string, unknown>;
}

function operationsOf(doc: { paths: Record<string, Record<string, unknown>> }): DocumentOperation[] {
  const methods = ["get", "put", "post", "patch", "delete", "head", "options"];
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    methods
      .filter((method) => item[method])
      .map((method) => ({
        where: `${method} ${path}`,
        ...(item[method] as Omit<DocumentOperation, "where">),
      })),
  );
}

describe("OpenAPI and docs", () => {
  it("serves an OpenAPI 3.1 document listing the users and posts paths", async () => {
    const res = await t.app.inject({ url: "/openapi.json" });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(["/api/v1/users", "/api/v1/users/{id}", "/api/v1/posts", "/api/v1/posts/{id}"]),
    );
    expect(doc.components.schemas.Problem).toBeDefined();
    expect(doc.paths["/api/v1/users"].post.responses["422"]).toBeDefined();
    // Errors are documented as what they are sent as, with their status phrase.
    const notFound = doc.paths["/api/v1/posts/{id}"].get.responses["404"];
    expect(notFound.description).toMatch(/^Not Found/);
    expect(Object.keys(notFound.content)).toEqual(["application/problem+json"]);
    expect(notFound.content["application/problem+json"].schema).toEqual({
      $ref: "#/components/schemas/Problem",
    });
  });

  it("gives every response a schema and examples that satisfy it, one per problem code", async () => {
    const doc = (await t.app.inject({ url: "/openapi.json" })).json();
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats.default(ajv);
    for (const [name, schema] of Object.entries(doc.components.schemas as Record<string, object>)) {
      ajv.addSchema(schema, `#/components/schemas/${name}`);
    }
    let checked = 0;
    for (const op of operationsOf(doc)) {
      for (const [status, response] of Object.entries(op.responses as Record<string, DocumentedResponse>)) {
        if (!response.content) continue; // 204, 101 and other bodiless answers
        for (const [mediaType, media] of Object.entries(response.content)) {
          const where = `${op.where} ${status} ${mediaType}`;
          expect(media.schema, where).toBeDefined();
          const examples = media.examples
            ? Object.entries(media.examples).map(([name, example]) => [name, example.value] as const)
            : [["example", media.example] as const];
          expect(examples.length, where).toBeGreaterThan(0);
          if (mediaType === "application/problem+json") {
            for (const [name, value] of examples)
              expect((value as { code?: string })?.code, `${where} ${name}`).toBe(name);
          }
          if ((media.schema as { format?: string }).format === "binary") continue; // bytes, not JSON
          const validate = ajv.compile(media.schema as object);
          for (const [name, value] of examples) {
            expect(value, `${where}: ${name} is missing`).toBeDefined();
            expect(validate(value), `${where}: ${name}: ${ajv.errorsText(validate.errors)}`).toBe(true);
            checked++;
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(100);
  });

  it("gives every operation a unique, readable operationId and a summary", async () => {
    const operations = operationsOf((await t.app.inject({ url: "/openapi.json" })).json());
    expect(operations.length).toBeGreaterThan(20);
    for (const op of operations) {
      expect(op.operationId, op.where).toMatch(/^[a-z][A-Za-z]+$/);
      expect(op.summary, op.where).toBeTruthy();
    }
    const ids = operations.map((op) => op.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(
      expect.arrayContaining(["createPost", "listPosts", "getPost", "createUser", "getCurrentUser"]),
    );
  });

  // What Redocly's recommended ruleset checks of each operation, kept true without running it.
  it("states every operation's security, a success and a client error", async () => {
    for (const op of operationsOf((await t.app.inject({ url: "/openapi.json" })).json())) {
      expect(Array.isArray(op.security), op.where).toBe(true);
      const statuses = Object.keys(op.responses);
      expect(
        statuses.some((status) => /^2/.test(status) || status === "default"),
        op.where,
      ).toBe(true);
      expect(
        statuses.some((status) => /^4/.test(status)),
        op.where,
      ).toBe(true);
    }
  });

  it("names its server and licence, and says which operations are public", async () => {
    const doc = (await t.app.inject({ url: "/openapi.json" })).json();
    expect(doc.servers).toEqual([{ url: "/", description: "This server" }]);
    expect(doc.info.license).toEqual({ name: "MIT", identifier: "MIT" });
    expect(doc.paths["/api/v1/posts"].get.security).toEqual([]);
    expect(doc.paths["/api/v1/auth/token"].post.security).toEqual([]);
    expect(doc.paths["/health/live"].get.security).toEqual([]);
    expect(doc.paths["/api/v1/posts"].post.security).toEqual([{ OAuth2: ["posts:write"] }]);
    // The WebSocket upgrade answers 101, not 2xx; its other refusals are the document's `default`.
    expect(Object.keys(doc.paths["/api/v1/ws"].get.responses)).toEqual(["101", "403", "404", "default"]);
  });

  it("documents the upload's multipart body without validating it", async () => {
    const doc = (await t.app.inject({ url: "/openapi.json" })).json();
    const body = doc.paths["/api/v1/files"].post.requestBody;
    expect(body.required).toBe(true);
    const schema = body.content["multipart/form-data"].schema;
    expect(schema.required).toEqual(["file"]);
    expect(schema.properties.file).toMatchObject({ type: "string", format: "binary" });
    expect(schema.properties.file.description).toMatch(/MAX_UPLOAD_BYTES/);
  });

  it("renders the interactive docs at /docs", async () => {
    const res = await t.app.inject({ url: "/docs" });
    const page = res.statusCode === 302 ? await t.app.inject({ url: res.headers.location as string }) : res;
    expect(page.statusCode).toBe(200);
    expect(page.body).toMatch(/swagger/i);
  });
});

describe("health", () => {
  it("is live and ready while the database answers", async () => {
    expect((await t.app.inject({ url: "/health/live" })).json()).toEqual({ status: "ok" });
    const ready = await t.app.inject({ url: "/health/ready" });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toMatchObject({
      status: "pass",
      draining: false,
      checks: { database: { status: "pass" } },
    });
  });

  it("turns not-ready while draining, staying live", async () => {
    t.app.lifecycle.draining = true;
    try {
      const ready = await t.app.inject({ url: "/health/ready" });
      expect(ready.statusCode).toBe(503);
      expect(ready.json()).toMatchObject({ status: "fail", draining: true });
      expect((await t.app.inject({ url: "/health/live" })).statusCode).toBe(200);
    } finally {
      t.app.lifecycle.draining = false;
    }
  });
});
