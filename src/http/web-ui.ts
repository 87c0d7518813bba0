import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import fastifyStatic from "@fastify/static";
import type { FastifyInstance } from "fastify";

/** The web app and the admin console: plain files under `web/`, no build step. */
export const WEB_DIR = fileURLToPath(new URL("../../web", import.meta.url));

const require = createRequire(import.meta.url);
/**
 * The browser's libraries, served from their npm packages (pinned in package.json) under
 * names the pages' import map uses, and Kaira's own TypeScript client (clients/typescript),
 * which the web app talks to the API through. Only these files are reachable, not
 * node_modules. A file that cannot be found (an install from before it was added) is left
 * out: the API still serves; the pages need `npm install`.
 */
function resolveVendor(): Record<string, string> {
  const files: Record<string, () => string> = {
    "preact.mjs": () => require.resolve("preact"),
    "hooks.mjs": () => require.resolve("preact/hooks"),
    "htm.mjs": () => join(dirname(require.resolve("htm")), "htm.mjs"),
    "openapi-fetch.mjs": () => join(dirname(require.resolve("openapi-fetch")), "index.mjs"),
    "kaira-client.mjs": () =>
      fileURLToPath(new URL("../../clients/typescript/src/index.js", import.meta.url)),
  };
  const found: Record<string, string> = {};
  for (const [name, locate] of Object.entries(files)) {
    try {
      const path = locate();
      if (existsSync(path)) found[name] = path;
    } catch {
      // not installed
    }
  }
  return found;
}

/**
 * The pages' policy: scripts only from this origin plus the one inline script each page has,
 * its import map, allowed by hash (never 'unsafe-inline'); no inline styles, no plugins, no
 * framing; images from here or blob: (a picked file's preview); the API and the WebSocket on
 * this origin only.
 */
function contentSecurityPolicy(page: string): string {
  const importMap = /<script type="importmap">([\s\S]*?)<\/script>/.exec(page)?.[1];
  const hash = importMap ? ` 'sha256-${createHash("sha256").update(importMap).digest("base64")}'` : "";
  return [
    "default-src 'none'",
    `script-src 'self'${hash}`,
    "style-src 'self'",
    "img-src 'self' blob:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join("; ");
}

/** A page read once at start; with the docs hidden, its lines marked `<!-- docs -->` go. */
function loadPage(name: string, docsEnabled: boolean) {
  const text = readFileSync(join(WEB_DIR, name), "utf8")
    .split("\n")
    .filter((line) => docsEnabled || !line.includes("<!-- docs -->"))
    .join("\n");
  return { text, csp: contentSecurityPolicy(text) };
}

/**
 * The pages account mail links open (`PUBLIC_URL/account/<page>#token=…`, see
 * src/modules/users/account-links.ts; a test keeps the two lists equal). One page serves them
 * all: it reads the token from the fragment, which never reaches a server, and posts it.
 */
export const ACCOUNT_PAGE_PATHS = [
  "/account/verify-email",
  "/account/reset-password",
  "/account/confirm-email",
  "/account/cancel-email-change",
] as const;

/** `/` (the web app), `/admin` (the console), `/account/*` (mail links), `/ui/*` (scripts and styles) and `/ui/vendor/*`. */
export async function registerWebUi(app: FastifyInstance, options: { docsEnabled: boolean }): Promise<void> {
  // About 20 KB in all, read once: nothing touches the disk on a request.
  const vendor = new Map(Object.entries(resolveVendor()).map(([name, path]) => [name, readFileSync(path)]));
  for (const [path, file] of [
    ["/", "index.html"],
    ["/admin", "admin.html"],
    ...ACCOUNT_PAGE_PATHS.map((path) => [path, "account.html"] as const),
  ] as const) {
    const page = loadPage(file, options.docsEnabled);
    app.get(path, { schema: { hide: true } }, (_request, reply) =>
      reply
        .header("content-security-policy", page.csp)
        .header("cache-control", "no-cache")
        .type("text/html; charset=utf-8")
        .send(page.text),
    );
  }
  await app.register(fastifyStatic, {
    root: join(WEB_DIR, "ui"),
    prefix: "/ui/",
    decorateReply: false,
    // max-age=0 (the default): revalidated on every load through the ETag, so a new version
    // of one module is never mixed with old ones.
  });
  app.get<{ Params: { name: string } }>("/ui/vendor/:name", { schema: { hide: true } }, (request, reply) => {
    const file = vendor.get(request.params.name);
    if (!file) return reply.callNotFound();
    return reply
      .type("text/javascript; charset=utf-8")
      .header("cache-control", "public, max-age=3600")
      .send(file);
  });
}
