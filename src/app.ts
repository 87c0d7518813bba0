import fastifyCors from "@fastify/cors";
import fastifyStatic from "@fastify/static";
import fastifySwagger from "@fastify/swagger";
import fastifySwaggerUi from "@fastify/swagger-ui";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import type { Logger } from "pino";
import type { Config } from "./config.js";
import { AccessLog } from "./http/access-log.js";
import { errorHandlerPlugin } from "./http/plugins/error-handler.js";
import { requestContextPlugin, requestIdFrom } from "./http/plugins/request-context.js";
import { ProblemSchema } from "./http/problem.js";
import { validatorCompiler } from "./http/validation.js";
import { createArgon2Hasher, type PasswordHasher } from "./modules/auth/password-hasher.js";
import { healthRoutes } from "./modules/health/health.routes.js";
import { createPostsRepository } from "./modules/posts/posts.repository.js";
import { postsRoutes } from "./modules/posts/posts.routes.js";
import { createPostsService } from "./modules/posts/posts.service.js";
import { createUsersRepository } from "./modules/users/users.repository.js";
import { usersRoutes } from "./modules/users/users.routes.js";
import { createUsersService } from "./modules/users/users.service.js";
import type { Database } from "./platform/database/index.js";

export interface AppDependencies {
  database: Database;
  logger?: Logger;
  passwordHasher?: PasswordHasher;
}

export interface AppLifecycle {
  /** Set on SIGTERM: readiness turns 503 so load balancers stop sending traffic. */
  draining: boolean;
}

declare module "fastify" {
  interface FastifyInstance {
    lifecycle: AppLifecycle;
    database: Database;
  }
}

const API_DESCRIPTION = `Kaira's public API, version 1.

Errors are \`application/problem+json\` (RFC 9457) with a stable \`code\` and the \`request_id\`;
validation errors are 422 with \`errors[].loc\` naming each field. Lists are keyset-paginated:
pass \`next_cursor\` back as \`cursor\`. Trailing slashes are ignored.`;

/**
 * The composition root: every adapter, service and route is wired here, once. `main.ts`
 * and the tests build the same app, differing only in config and the database they pass.
 */
export async function buildApp(config: Config, deps: AppDependencies): Promise<FastifyInstance> {
  const app = Fastify({
    ...(deps.logger ? { loggerInstance: deps.logger as FastifyBaseLogger } : { logger: false }),
    genReqId: requestIdFrom,
    logController: new AccessLog(),
    bodyLimit: config.bodyLimitBytes,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    return503OnClosing: true,
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  // The API speaks JSON (and forms, for the token endpoint later): other bodies get 415.
  app.removeContentTypeParser("text/plain");
  app.decorate("lifecycle", { draining: false } satisfies AppLifecycle);
  app.decorate("database", deps.database);
  app.addSchema(ProblemSchema);

  await app.register(errorHandlerPlugin);
  await app.register(requestContextPlugin, { config });
  await app.register(fastifyCors, {
    // An empty allow-list means no cross-origin access at all, never "any origin".
    origin: config.corsOrigins.includes("*")
      ? true
      : config.corsOrigins.length > 0
        ? config.corsOrigins
        : false,
    credentials: !config.corsOrigins.includes("*"),
    methods: ["GET", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS"],
    exposedHeaders: ["x-request-id", "retry-after"],
  });

  await app.register(fastifySwagger, {
    openapi: {
      openapi: "3.1.0",
      info: { title: "Kaira API", version: "1.0.0", description: API_DESCRIPTION },
      tags: [
        { name: "users", description: "Sign-up and profiles" },
        { name: "posts", description: "The community feed" },
        { name: "service", description: "Health probes" },
      ],
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
  });
  await app.register(fastifySwaggerUi, { routePrefix: "/docs" });

  await app.register(fastifyStatic, { root: config.staticDir, prefix: "/static/", index: ["index.html"] });

  const passwordHasher = deps.passwordHasher ?? createArgon2Hasher();
  const db = deps.database.db;
  const usersService = createUsersService({ usersRepository: createUsersRepository(db), passwordHasher });
  const postsService = createPostsService({ postsRepository: createPostsRepository(db) });

  await app.register(healthRoutes, {
    checks: [{ name: "database", check: () => deps.database.ping() }],
    isDraining: () => app.lifecycle.draining,
  });
  await app.register(
    async (api) => {
      await api.register(usersRoutes, { usersService });
      await api.register(postsRoutes, { postsService });
    },
    { prefix: "/api/v1" },
  );

  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());

  return app;
}
