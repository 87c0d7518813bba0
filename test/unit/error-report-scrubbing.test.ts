import type { ErrorEvent } from "@sentry/node";
import { describe, expect, it } from "vitest";
import { scrubBreadcrumb, scrubEvent } from "../../src/platform/telemetry/error-reports.js";

describe("error report scrubbing (Sentry beforeSend / beforeBreadcrumb)", () => {
  it("keeps the method, path and ids, and drops bodies, headers, cookies, query strings and credentials", () => {
    const event = scrubEvent({
      type: undefined,
      request: {
        method: "POST",
        url: "http://api.example.com/api/v1/users?token=query-secret",
        data: { password: "body-secret" },
        headers: { authorization: "Bearer header-secret", cookie: "sid=cookie-secret" },
        cookies: { sid: "cookie-secret" },
        query_string: "token=query-secret",
        env: { SECRET_KEY: "env-secret" },
      },
      user: { id: "7", email: "someone@example.com", ip_address: "10.0.0.1" },
      tags: { request_id: "r-1", route: "/api/v1/users" },
      extra: { payload: { password: "extra-secret", nested: [{ refresh_token: "extra-token" }] } },
      contexts: { job: { id: "9", name: "users.welcome_email", api_key: "ctx-secret" } },
      breadcrumbs: [
        { category: "http", data: { url: "http://x/?token=crumb-url-secret" } },
        { category: "query", data: { authorization: "crumb-secret", table: "users" } },
      ],
    } as ErrorEvent);

    expect(event.request).toEqual({ method: "POST", url: "http://api.example.com/api/v1/users" });
    expect(event.user).toEqual({ id: "7" });
    expect(event.tags).toEqual({ request_id: "r-1", route: "/api/v1/users" });
    expect(event.contexts?.job).toEqual({ id: "9", name: "users.welcome_email", api_key: "[redacted]" });
    expect(event.breadcrumbs).toEqual([
      { category: "query", data: { authorization: "[redacted]", table: "users" } },
    ]);
    expect(JSON.stringify(event)).not.toMatch(/secret|extra-token|someone@|10\.0\.0\.1/);
  });

  it("redacts every key named like a credential, and keeps look-alikes such as author ids", () => {
    const event = scrubEvent({
      type: undefined,
      extra: {
        jwt: "a-jwt",
        private_key: "a-private-key",
        smtp_url: "smtp://u:smtp-pass@mail",
        signature: "a-signature",
        auth: "an-auth",
        key: "a-key",
        author_id: 7,
        monkey: "kept",
      },
    } as ErrorEvent);
    expect(event.extra).toEqual({
      jwt: "[redacted]",
      private_key: "[redacted]",
      smtp_url: "[redacted]",
      signature: "[redacted]",
      auth: "[redacted]",
      key: "[redacted]",
      author_id: 7,
      monkey: "kept",
    });
  });

  it("drops HTTP breadcrumbs and redacts credential-named data in the others", () => {
    expect(scrubBreadcrumb({ type: "http", data: { url: "/x" } })).toBeNull();
    expect(scrubBreadcrumb({ category: "console", message: "hello", data: { password: "p", n: 1 } })).toEqual(
      {
        category: "console",
        message: "hello",
        data: { password: "[redacted]", n: 1 },
      },
    );
  });
});
