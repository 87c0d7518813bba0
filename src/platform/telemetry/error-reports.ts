import * as Sentry from "@sentry/node";
import type { ErrorReportsConfig } from "../../config.js";
import type { ErrorContext, ErrorReporter } from "./telemetry.js";

type SentryEvent = Sentry.ErrorEvent;
type Breadcrumb = Sentry.Breadcrumb;

/** Keys whose values never leave the process, wherever they appear in a report. */
const SECRET_KEY =
  /pass(word)?|secret|token|^auth$|authoriz|authent|cookie|api[-_]?key|private[-_]?key|^key$|credential|session|dsn|jwt|signature|^sig$|smtp[-_]?url|database[-_]?url|redis[-_]?url/i;
const REDACTED = "[redacted]";

/**
 * Sentry, reporting errors only: what Kaira reports (unhandled errors, 5xx answers, jobs that
 * failed their last attempt) is passed in explicitly with the request id, route template and
 * user id. The SDK collects nothing on its own — no default integrations (no HTTP or console
 * breadcrumbs, no process handlers: Kaira's crash policy reports and exits), no headers,
 * cookies, bodies or query strings — and every event and breadcrumb is scrubbed once more
 * before it leaves, so a password in an error message's object or a token in an extra cannot
 * get out either.
 */
export function startErrorReports(
  config: ErrorReportsConfig,
  process: string,
  version: string,
): ErrorReporter {
  Sentry.init({
    dsn: config.dsn,
    environment: config.environment,
    release: config.release ?? `kaira@${version}`,
    serverName: process === "api" ? "kaira" : "kaira-worker",
    defaultIntegrations: false,
    integrations: [
      Sentry.linkedErrorsIntegration(),
      Sentry.dedupeIntegration(),
      Sentry.functionToStringIntegration(),
      Sentry.nodeContextIntegration(),
    ],
    dataCollection: {
      userInfo: false,
      cookies: false,
      httpHeaders: false,
      httpBodies: [],
      urlQueryParams: false,
      databaseQueryData: false,
    },
    beforeSend: (event) => scrubEvent(event),
    beforeBreadcrumb: (breadcrumb) => scrubBreadcrumb(breadcrumb),
  });
  return {
    report(error, context) {
      Sentry.captureException(error, (scope) => {
        scope.setTag("process", process);
        applyContext(scope, context);
        return scope;
      });
    },
    async flush() {
      await Sentry.flush(2_000);
    },
  };
}

function applyContext(scope: Sentry.Scope, context: ErrorContext): void {
  if (context.requestId) scope.setTag("request_id", context.requestId);
  if (context.route) scope.setTag("route", context.route);
  if (context.method) scope.setTag("method", context.method);
  if (context.status !== undefined) scope.setTag("status", String(context.status));
  if (context.origin) scope.setTag("origin", context.origin);
  if (context.userId !== undefined) scope.setUser({ id: String(context.userId) });
  if (context.job) {
    scope.setTag("job", context.job.name);
    scope.setTag("job_id", context.job.id);
    scope.setContext("job", { id: context.job.id, name: context.job.name, attempt: context.job.attempt });
  }
  if (context.route && context.method) scope.setTransactionName(`${context.method} ${context.route}`);
}

/** Removes whatever could carry a credential or a user's content; exported for tests. */
export function scrubEvent<T extends SentryEvent>(event: T): T {
  if (event.request) {
    const { method, url } = event.request;
    // The URL without its query; no body, headers, cookies or environment.
    event.request = { ...(method ? { method } : {}), ...(url ? { url: url.split("?")[0] } : {}) };
  }
  if (event.user) event.user = event.user.id !== undefined ? { id: event.user.id } : {};
  if (event.extra) event.extra = scrub(event.extra) as typeof event.extra;
  if (event.contexts) event.contexts = scrub(event.contexts) as typeof event.contexts;
  if (event.tags) event.tags = scrub(event.tags) as typeof event.tags;
  if (event.breadcrumbs) {
    event.breadcrumbs = event.breadcrumbs
      .map((breadcrumb) => scrubBreadcrumb(breadcrumb))
      .filter((b): b is Breadcrumb => b !== null);
  }
  return event;
}

export function scrubBreadcrumb(breadcrumb: Breadcrumb): Breadcrumb | null {
  // HTTP breadcrumbs carry URLs and sometimes headers: none of that is wanted.
  if (breadcrumb.category === "http" || breadcrumb.type === "http") return null;
  return breadcrumb.data ? { ...breadcrumb, data: scrub(breadcrumb.data) as Breadcrumb["data"] } : breadcrumb;
}

function scrub(value: unknown, depth = 0): unknown {
  if (depth > 8 || value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map((item) => scrub(item, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
    out[key] = SECRET_KEY.test(key) ? REDACTED : scrub(item, depth + 1);
  }
  return out;
}
