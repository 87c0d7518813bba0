import type { FastifyInstance, onSendHookHandler, RouteOptions } from "fastify";

/**
 * How a route announces that it is going away (docs/versioning.md). Set it as the route's
 * `config.deprecation`; nothing else is needed:
 *
 *   app.get("/legacy", { config: { deprecation: { since: "2027-01-15",
 *     sunset: "2027-07-15", notes: "https://example.com/docs/versioning#legacy" } } }, …)
 *
 * Every response of the route then carries
 * - `Deprecation: @<unix seconds>` (RFC 9745): deprecated since that moment;
 * - `Sunset: <HTTP-date>` (RFC 8594): when it stops answering, if a date is set;
 * - `Link: <notes>; rel="deprecation"` (and `rel="sunset"`): where to read what to use instead;
 * and the OpenAPI document marks the operation `deprecated: true` with the dates in its
 * description, so generated clients warn their users too.
 */
export interface RouteDeprecation {
  /** When the route became deprecated: an ISO 8601 date or date-time. */
  since: string;
  /** When it will be removed: an ISO 8601 date or date-time, at least `since`. */
  sunset?: string;
  /** An absolute URL of the notes that say what replaces the route. */
  notes: string;
}

declare module "fastify" {
  interface FastifyContextConfig {
    deprecation?: RouteDeprecation;
  }
}

function instant(value: string, field: string, url: string): Date {
  const date = new Date(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(date.getTime())) {
    throw new Error(`Route ${url}: deprecation.${field} must be an ISO 8601 date, got "${value}"`);
  }
  return date;
}

/** The response headers for a deprecation; throws (at start-up) on a malformed one. */
export function deprecationHeaders(deprecation: RouteDeprecation, url = "?"): Record<string, string> {
  const since = instant(deprecation.since, "since", url);
  let notes: URL;
  try {
    notes = new URL(deprecation.notes);
  } catch {
    throw new Error(`Route ${url}: deprecation.notes must be an absolute URL, got "${deprecation.notes}"`);
  }
  // A Link target is written between angle brackets; these would end it early.
  if (/[<>\s]/.test(notes.href)) throw new Error(`Route ${url}: deprecation.notes is not a usable link`);
  const headers: Record<string, string> = {
    deprecation: `@${Math.floor(since.getTime() / 1000)}`,
    link: `<${notes.href}>; rel="deprecation"; type="text/html"`,
  };
  if (deprecation.sunset !== undefined) {
    const sunset = instant(deprecation.sunset, "sunset", url);
    if (sunset < since) throw new Error(`Route ${url}: deprecation.sunset is before deprecation.since`);
    headers.sunset = sunset.toUTCString();
    headers.link += `, <${notes.href}>; rel="sunset"; type="text/html"`;
  }
  return headers;
}

const asArray = <T>(value: T | T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

/**
 * Applies `config.deprecation` to every route registered on `app` after this call: the
 * headers on each response (errors included) and the flag in the OpenAPI document.
 */
export function announceDeprecations(app: FastifyInstance): void {
  app.addHook("onRoute", (route: RouteOptions) => {
    const deprecation = route.config?.deprecation;
    if (!deprecation) return;
    const headers = deprecationHeaders(deprecation, route.url);
    const sendHeaders: onSendHookHandler = async (_request, reply, payload) => {
      reply.headers(headers);
      return payload;
    };
    route.onSend = [...asArray(route.onSend), sendHeaders];
    const when = deprecation.sunset
      ? `Deprecated since ${deprecation.since}; removed on ${deprecation.sunset}.`
      : `Deprecated since ${deprecation.since}.`;
    const schema = route.schema ?? {};
    const description = (schema as { description?: string }).description;
    route.schema = {
      ...schema,
      deprecated: true,
      description: `${when} See ${deprecation.notes}${description ? `\n\n${description}` : ""}`,
    } as typeof schema;
  });
}
