import fastifyCors from "@fastify/cors";
import fastifyStatic from "@fastify/static";
import fastifySwagger from "@fastify/swagger";
import fastifySwaggerUi from "@fastify/swagger-ui";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import fastifyWebsocket from "@fastify/websocket";
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyPluginAsync } from "fastify";
import type { Logger } from "pino";
import type { Config } from "../config.js";
import type { Cache } from "../platform/cache/index.js";
import type { Metrics } from "../platform/metrics/metrics.js";
import { AccessLog } from "./access-log.js";
import { announceDeprecations } from "./deprecation.js";
import { handlersWaitMs, PLUGIN_TIMEOUT_MS, trackHandlersInFlight } from "./handlers-in-flight.js";
import { metricsRoutes } from "./metrics-endpoint.js";
import { documentProblems, ProblemRef } from "./openapi.js";
import { clientErrorHandler, errorHandlerPlugin, frameworkErrorHandler } from "./plugins/error-handler.js";
import { httpMetricsPlugin } from "./plugins/http-metrics.js";
import { rateLimitPlugin } from "./plugins/rate-limit.js";
import { requestContextPlugin, requestIdFrom } from "./plugins/request-context.js";
import { requestTimeoutPlugin } from "./plugins/request-timeout.js";
import { OAuthProblemSchema, ProblemSchema } from "./problem.js";
import { requestRatePlugin } from "./request-rate.js";
import { validatorCompiler } from "./validation.js";
import { registerWebUi } from "./web-ui.js";

/** Where every feature's routes live. */
export const API_PREFIX = "/api/v1";

/** WebSocket close code "going away" (RFC 6455), sent to every client before the server stops. */
const CLOSE_GOING_AWAY = 1001;
/**
 * How long a client has to answer the server's close frame at shutdown. ws itself waits 30 s
 * for the answer, longer than the shutdown deadline: one client that never answers (a dead
 * network, or on purpose) would make every shutdown time out. After this, it is cut off.
 */
const CLOSE_HANDSHAKE_GRACE_MS = 2_000;

export interface AppLifecycle {
  /** Set on SIGTERM: readiness turns 503 so load balancers stop sending traffic. */
  draining: boolean;
}

declare module "fastify" {
  interface FastifyInstance {
    lifecycle: AppLifecycle;
    metrics: Metrics;
  }
}

export interface ServerOptions {
  logger?: Logger;
  metrics: Metrics;
  /** Where the per-client rate limit counts (shared between instances when the cache is). */
  rateLimitCounters: Cache;
  /** The scopes the OAuth2 security scheme of the OpenAPI document lists, with their descriptions. */
  oauth2Scopes: Record<string, string>;
  /** The largest WebSocket message accepted. */
  websocketMaxPayload: number;
  /**
   * The WebSocket messages' AsyncAPI document (served at /asyncapi.json beside
   * /openapi.json), for a client that reached the server at `host`, over TLS when `secure`.
   */
  asyncApiDocument: (where: { host: string; secure: boolean }) => object;
}

const API_DESCRIPTION = `Kaira's public API, version 1.

Errors are \`application/problem+json\` (RFC 9457) with a stable \`code\` and the \`request_id\`;
validation errors are 422 with \`errors[].loc\` naming the first invalid field found. On every operation, a string
(in the body, query, path or a header) that holds a NUL character or an unpaired surrogate is a
422 of type \`string_unsafe_characters\`, and a path with a malformed percent-escape or an
over-long path parameter is a 400 (\`bad_url\`, \`max_param_length\`). Lists are
keyset-paginated: pass \`next_cursor\` back as \`cursor\`; a cursor the API did not hand out
is a 422. JSON answered to a request with an \`Authorization\` header carries
\`Cache-Control: no-store\`. Trailing slashes are ignored.

Under overload any route may answer 503 with \`Retry-After\`: \`database_busy\` (no database
connection came free in time) or \`database_timeout\` (a statement ran past the general
statement timeout). Search has limits of its own (see the search routes).`;

const TAGS = [
  { name: "auth", description: "Tokens: log in, refresh, log out" },
  { name: "users", description: "Sign-up, profiles and accounts" },
  { name: "posts", description: "The community feed" },
  { name: "files", description: "Uploads, downloads and thumbnails" },
  { name: "search", description: "Full-text search of posts and title suggestions" },
  { name: "transfers", description: "Credits: balances, transfers, the ledger" },
  { name: "live", description: "The live WebSocket feed" },
  { name: "admin", description: "Operations for admins: background jobs, backups, security events" },
  { name: "service", description: "Health probes" },
];

/**
 * The HTTP server every feature's routes are registered on: Fastify's options, validation,
 * content types, errors as problem+json, request context and timeout, rate limit, CORS, the
 * OpenAPI document and its UI, static files and the landing page, metrics and WebSockets.
 * Knows nothing of the features themselves.
 */
export async function createServer(config: Config, options: ServerOptions): Promise<FastifyInstance> {
  const { metrics } = options;
  const app = Fastify({
    ...(options.logger ? { loggerInstance: options.logger as FastifyBaseLogger } : { logger: false }),
    genReqId: requestIdFrom,
    logController: new AccessLog(),
    bodyLimit: config.bodyLimitBytes,
    // Fastify's default (0) switches off Node's own limit on slow headers; bodies are timed
    // by requestTimeoutPlugin.
    requestTimeout: config.requestTimeoutSeconds * 1000,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    return503OnClosing: true,
    pluginTimeout: PLUGIN_TIMEOUT_MS,
    frameworkErrors: frameworkErrorHandler,
    clientErrorHandler,
    // The client address (throttling, rate limits, logs) comes from X-Forwarded-For only
    // when the request arrives from a configured proxy; anyone else could forge the header.
    trustProxy: config.trustedProxies.length > 0 ? config.trustedProxies : false,
  }).withTypeProvider<TypeBoxTypeProvider>();

  // Before any route, so every request is counted; at shutdown, waited for before the app
  // closes what handlers use.
  const handlers = trackHandlersInFlight(app);
  app.addHook("preClose", () => handlers.settled(handlersWaitMs(config.shutdownTimeoutSeconds), app.log));

  app.setValidatorCompiler(validatorCompiler);
  // Before any route: a route's `config.deprecation` becomes headers and a flag in the document.
  announceDeprecations(app);
  // The API speaks JSON (and forms, only on the token endpoint): other bodies get 415.
  app.removeContentTypeParser("text/plain");
  app.decorate("lifecycle", { draining: false } satisfies AppLifecycle);
  app.decorate("metrics", metrics);
  await app.register(httpMetricsPlugin, { metrics });
  await app.register(requestRatePlugin);
  app.addSchema(ProblemSchema);
  app.addSchema(OAuthProblemSchema);

  await app.register(errorHandlerPlugin);
  await app.register(requestContextPlugin, { config, handlers });
  await app.register(requestTimeoutPlugin, { timeoutMs: config.requestTimeoutSeconds * 1000 });
  await app.register(rateLimitPlugin, {
    cache: options.rateLimitCounters,
    perMinute: config.rateLimitPerMinute,
    metrics,
  });
  // No allow-list means no cross-origin access at all (never "any origin"), and no CORS hook.
  if (config.corsOrigins.length > 0) {
    await app.register(fastifyCors, {
      origin: config.corsOrigins.includes("*") ? true : config.corsOrigins,
      credentials: !config.corsOrigins.includes("*"),
      methods: ["GET", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS"],
      exposedHeaders: ["x-request-id", "retry-after", "deprecation", "sunset", "link"],
    });
  }

  await app.register(fastifySwagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "Kaira API",
        version: "1.0.0",
        description: API_DESCRIPTION,
        license: { name: "MIT", identifier: "MIT" },
      },
      // Relative: the API is at the address the document itself was fetched from, whatever the
      // host or proxy in front of it.
      servers: [{ url: "/", description: "This server" }],
      tags: TAGS,
      components: {
        securitySchemes: {
          MetricsToken: {
            type: "http",
            scheme: "bearer",
            description: "METRICS_TOKEN, for GET /metrics when the server sets one.",
          },
          OAuth2: {
            type: "oauth2",
            description:
              "Log in with your email or username and password; the docs' Authorize button uses this.",
            flows: {
              password: {
                tokenUrl: `${API_PREFIX}/auth/token`,
                refreshUrl: `${API_PREFIX}/auth/refresh`,
                scopes: options.oauth2Scopes,
              },
            },
          },
        },
      },
    },
    transformObject: (documentObject) =>
      "openapiObject" in documentObject
        ? documentProblems(documentObject.openapiObject)
        : documentObject.swaggerObject,
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
  });
  // The document is still built (`kaira openapi` prints it); only serving it is optional.
  if (config.docsEnabled) {
    await app.register(fastifySwaggerUi, { routePrefix: "/docs" });
    app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());
    app.get("/asyncapi.json", { schema: { hide: true } }, async (request) =>
      options.asyncApiDocument({ host: request.host, secure: request.protocol === "https" }),
    );
  }

  await app.register(fastifyStatic, { root: config.staticDir, prefix: "/static/", index: ["index.html"] });
  // The web app at / and the admin console at /admin (see web/).
  await registerWebUi(app, { docsEnabled: config.docsEnabled });

  await app.register(fastifyWebsocket, {
    options: { maxPayload: options.websocketMaxPayload },
    // Every client (authenticated or not) hears "going away" (1001) before the server stops.
    preClose(done) {
      for (const client of app.websocketServer.clients)
        client.close(CLOSE_GOING_AWAY, "server shutting down");
      const cutOff = setTimeout(() => {
        for (const client of app.websocketServer.clients) client.terminate();
      }, CLOSE_HANDSHAKE_GRACE_MS);
      cutOff.unref();
      // Called once every client has gone.
      app.websocketServer.close(() => {
        clearTimeout(cutOff);
        done();
      });
    },
  });
  metrics.observe({ openWebSockets: () => app.websocketServer.clients.size });
  // With METRICS_PORT, `kaira serve` serves them on a listener of its own instead.
  if (config.metrics.enabled && config.metrics.port === undefined) {
    await app.register(metricsRoutes, { metrics, token: config.metrics.token });
  }
  return app;
}

/**
 * Registers the features' routes under /api/v1. Any route that reads the database may find
 * it overloaded (503 database_busy or database_timeout, with Retry-After): every API route
 * documents it.
 */
export async function registerApi(app: FastifyInstance, routes: FastifyPluginAsync[]): Promise<void> {
  await app.register(
    async (api) => {
      // Refusals the platform makes before a handler runs are part of every operation's
      // contract: a Host outside TRUSTED_HOSTS (400), the per-client rate limit (429), overload
      // (503), input the schema refuses (422), a malformed or over-long path parameter (400),
      // and a body that is not JSON, too large, or of another media type (400, 413, 415).
      api.addHook("onRoute", (route) => {
        const schema = route.schema as
          | {
              response?: Record<string, unknown>;
              hide?: boolean;
              body?: unknown;
              consumes?: unknown;
              params?: unknown;
              querystring?: unknown;
              headers?: unknown;
            }
          | undefined;
        if (!schema || schema.hide) return;
        const takesBody = schema.body !== undefined || schema.consumes !== undefined;
        const validates = takesBody || schema.params || schema.querystring || schema.headers;
        schema.response = {
          // Any request: a Host outside TRUSTED_HOSTS (400), the per-client limit (429).
          400: ProblemRef,
          429: ProblemRef,
          503: ProblemRef,
          ...(validates ? { 422: ProblemRef } : {}),
          ...(takesBody ? { 413: ProblemRef, 415: ProblemRef } : {}),
          ...schema.response,
        };
      });
      for (const plugin of routes) await api.register(plugin);
    },
    { prefix: API_PREFIX },
  );
}
