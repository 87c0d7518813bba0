import { randomBytes } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { deprecationHeaders } from "../../src/http/deprecation.js";
import { createServer } from "../../src/http/server.js";
import { createMemoryCache } from "../../src/platform/cache/memory-cache.js";
import { noMetrics } from "../../src/platform/metrics/metrics.js";

// The server that `kaira serve` builds, with two routes of its own: one marked deprecated
// through the route option, one not.
let app: FastifyInstance;
const notes = "https://kaira.example/docs/versioning#legacy-feed";

beforeAll(async () => {
  const config = loadConfig({
    NODE_ENV: "test",
    LOG_LEVEL: "silent",
    SECRET_KEY: randomBytes(32).toString("hex"),
  });
  app = await createServer(config, {
    metrics: noMetrics,
    rateLimitCounters: createMemoryCache(),
    oauth2Scopes: {},
    websocketMaxPayload: 1024,
    asyncApiDocument: () => ({}),
  });
  app.get(
    "/api/v1/legacy-feed",
    {
      schema: { operationId: "legacyFeed", summary: "The old feed", response: { 200: { type: "object" } } },
      config: { deprecation: { since: "2027-01-15", sunset: "2027-07-15T12:00:00Z", notes } },
    },
    async (request) => {
      if ((request.query as { fail?: string }).fail) throw new Error("boom");
      return {};
    },
  );
  app.get(
    "/api/v1/current-feed",
    { schema: { operationId: "currentFeed", summary: "The feed" } },
    async () => ({}),
  );
  await app.ready();
});
afterAll(() => app.close());

describe("a route marked deprecated", () => {
  it("sends Deprecation (RFC 9745), Sunset (RFC 8594) and Link headers on every response", async () => {
    for (const url of ["/api/v1/legacy-feed", "/api/v1/legacy-feed?fail=1"]) {
      const res = await app.inject({ url });
      expect(res.statusCode).toBe(url.includes("fail") ? 500 : 200);
      expect(res.headers.deprecation).toBe(`@${Date.UTC(2027, 0, 15) / 1000}`);
      expect(res.headers.sunset).toBe("Thu, 15 Jul 2027 12:00:00 GMT");
      expect(res.headers.link).toBe(
        `<${notes}>; rel="deprecation"; type="text/html", <${notes}>; rel="sunset"; type="text/html"`,
      );
    }
  });

  it("leaves other routes alone", async () => {
    const res = await app.inject({ url: "/api/v1/current-feed" });
    expect(res.statusCode).toBe(200);
    expect(res.headers.deprecation).toBeUndefined();
    expect(res.headers.sunset).toBeUndefined();
    expect(res.headers.link).toBeUndefined();
  });

  it("is flagged in the OpenAPI document with its dates", () => {
    const paths = (
      app.swagger() as unknown as { paths: Record<string, Record<string, Record<string, unknown>>> }
    ).paths;
    const legacy = paths["/api/v1/legacy-feed"]?.get;
    expect(legacy?.deprecated).toBe(true);
    expect(legacy?.description).toContain("Deprecated since 2027-01-15; removed on 2027-07-15T12:00:00Z.");
    expect(legacy?.description).toContain(notes);
    expect(paths["/api/v1/current-feed"]?.get?.deprecated).toBeUndefined();
  });
});

describe("deprecationHeaders", () => {
  it("refuses a malformed deprecation at start-up rather than sending a wrong header", () => {
    expect(() => deprecationHeaders({ since: "soon", notes })).toThrow(/since must be an ISO 8601 date/);
    expect(() => deprecationHeaders({ since: "2027-01-15", notes: "/relative" })).toThrow(/absolute URL/);
    expect(() => deprecationHeaders({ since: "2027-01-15", sunset: "2026-01-01", notes })).toThrow(
      /sunset is before/,
    );
  });

  it("omits Sunset when no removal date is set", () => {
    expect(deprecationHeaders({ since: "2027-01-15T00:00:00Z", notes })).toEqual({
      deprecation: `@${Date.UTC(2027, 0, 15) / 1000}`,
      link: `<${notes}>; rel="deprecation"; type="text/html"`,
    });
  });
});
