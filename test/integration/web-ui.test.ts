import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ACCOUNT_PAGE_PATHS } from "../../src/http/web-ui.js";
import { ACCOUNT_PAGES } from "../../src/modules/users/account-links.js";
import { createTestApp, type TestApp } from "../helpers/test-app.js";

// The pages and their scripts as the server hands them out; the browser tests drive them.
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

describe("the web UI's pages", () => {
  it("serves / and /admin with a CSP that allows only this origin's scripts and the import map by hash", async () => {
    for (const url of ["/", "/admin", ...ACCOUNT_PAGE_PATHS]) {
      const res = await t.app.inject({ url });
      expect(res.statusCode).toBe(200);
      expect(res.headers["content-type"]).toMatch(/^text\/html/);
      const csp = String(res.headers["content-security-policy"]);
      expect(csp).not.toContain("unsafe-inline");
      expect(csp).not.toContain("unsafe-eval");
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("frame-ancestors 'none'");
      const importMap = /<script type="importmap">([\s\S]*?)<\/script>/.exec(res.body)?.[1] ?? "";
      const hash = createHash("sha256").update(importMap).digest("base64");
      expect(csp).toContain(`script-src 'self' 'sha256-${hash}'`);
      // The page's only inline script is that import map.
      expect(res.body.match(/<script(?![^>]*\bsrc=)[^>]*>/g)).toHaveLength(1);
    }
  });

  it("serves a page at every address account mail links to, the token staying in the fragment", async () => {
    expect([...ACCOUNT_PAGE_PATHS].sort()).toEqual(Object.values(ACCOUNT_PAGES).sort());
    for (const url of ACCOUNT_PAGE_PATHS) {
      const res = await t.app.inject({ url });
      expect(res.statusCode, url).toBe(200);
      expect(res.body).toContain('src="/ui/account-pages.js"');
    }
    expect((await t.app.inject({ url: "/account/unknown" })).statusCode).toBe(404);
  });

  it("serves the pinned Preact, its hooks, htm, openapi-fetch and Kaira's client, and nothing else of node_modules", async () => {
    for (const name of ["preact.mjs", "hooks.mjs", "htm.mjs", "openapi-fetch.mjs", "kaira-client.mjs"]) {
      const res = await t.app.inject({ url: `/ui/vendor/${name}` });
      expect(res.statusCode, name).toBe(200);
      expect(res.headers["content-type"]).toMatch(/^text\/javascript/);
    }
    expect((await t.app.inject({ url: "/ui/vendor/package.json" })).statusCode).toBe(404);
    expect((await t.app.inject({ url: "/ui/vendor/..%2F..%2Fpackage.json" })).statusCode).toBe(404);
    expect((await t.app.inject({ url: "/ui/app.js" })).statusCode).toBe(200);
    expect((await t.app.inject({ url: "/ui/../../package.json" })).statusCode).toBe(404);
  });

  it("never writes user content into pages with innerHTML", async () => {
    for (const name of [
      "app.js",
      "admin.js",
      "feed.js",
      "account.js",
      "account-pages.js",
      "ui.js",
      "api.js",
      "live.js",
    ]) {
      // The code, not the comments that say why it avoids these.
      const source = (await t.app.inject({ url: `/ui/${name}` })).body
        .replace(/\/\*[\s\S]*?\*\//g, "")
        .replace(/^\s*\/\/.*$/gm, "");
      expect(source, name).not.toMatch(/innerHTML|dangerouslySetInnerHTML|outerHTML|insertAdjacentHTML/);
      expect(source, name).not.toMatch(/localStorage|sessionStorage/);
    }
  });
});
