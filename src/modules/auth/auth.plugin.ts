import type { FastifyInstance, FastifyRequest, preHandlerHookHandler, RouteOptions } from "fastify";
import fp from "fastify-plugin";
import { addProblemCodes, ProblemRef } from "../../http/openapi.js";
import { securityLogFor } from "../../http/security-log.js";
import { ForbiddenError, UnauthorizedError } from "../../shared/errors.js";
import type { AccessTokens } from "./access-tokens.js";
import { InvalidTokenError } from "./access-tokens.js";
import type { AuthStateCache } from "./auth-state.js";
import type { Role, Scope } from "./scopes.js";
import type { SessionRevocations } from "./session-revocations.js";

export const SECURITY_SCHEME = "OAuth2";

/** Who is calling, once the token and the user's current state have been checked. */
export interface Principal {
  userId: number;
  role: Role;
  scopes: ReadonlySet<string>;
  sessionId: string;
  /** When the access token expires (seconds since the epoch). */
  expiresAt: number;
  /** Whether the user's current email is verified. */
  emailVerified: boolean;
}

declare module "fastify" {
  interface FastifyRequest {
    principal: Principal | null;
  }
  interface FastifyInstance {
    /** Checks an access token as every request does (signature, claims, revocation). */
    principalFromToken(token: string): Promise<Principal>;
  }
}

/**
 * A route states what it needs in its schema's `security`, once — the same declaration
 * the OpenAPI document shows:
 *   security: requireAuth("posts:write")   a valid token carrying these scopes
 *   security: optionalAuth                 anonymous allowed; a token, if sent, must be valid
 *   security: []                           public: no token is read (said explicitly for the document)
 * Any other non-empty requirement is read as needing a token (fail closed): GET /metrics
 * declares its own scheme, and is registered before this plugin, which never sees it.
 */
type SecurityRequirement = Record<string, string[]>;
export const requireAuth = (...scopes: Scope[]): SecurityRequirement[] => [{ [SECURITY_SCHEME]: scopes }];
export const optionalAuth: SecurityRequirement[] = [{ [SECURITY_SCHEME]: [] }, {}];

interface Requirement {
  optional: boolean;
  scopes: string[];
}

function requirementOf(route: RouteOptions): Requirement | undefined {
  const security = (route.schema as { security?: Record<string, string[]>[] } | undefined)?.security;
  if (!security || security.length === 0) return undefined;
  const scheme = security.find((entry) => SECURITY_SCHEME in entry);
  return {
    optional: security.some((entry) => Object.keys(entry).length === 0),
    scopes: scheme?.[SECURITY_SCHEME] ?? [],
  };
}

function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header === undefined) return undefined;
  const match = /^Bearer ([^\s]+)$/i.exec(header);
  if (!match?.[1]) throw new UnauthorizedError("Malformed Authorization header", "invalid_token");
  return match[1];
}

export const authenticationPlugin = fp(
  async (
    app: FastifyInstance,
    options: {
      accessTokens: AccessTokens;
      authState: AuthStateCache;
      sessionRevocations: SessionRevocations;
      /** REQUIRE_VERIFIED_EMAIL: routes needing a `…:write` scope refuse unverified users. */
      requireVerifiedEmail?: boolean;
    },
  ) => {
    const { accessTokens, authState, sessionRevocations } = options;
    app.decorateRequest("principal", null);

    async function principalFromToken(token: string): Promise<Principal> {
      let claims: Awaited<ReturnType<AccessTokens["verify"]>>;
      try {
        claims = await accessTokens.verify(token);
      } catch (error) {
        if (error instanceof InvalidTokenError) throw new UnauthorizedError("Invalid token", "invalid_token");
        throw error;
      }
      // Revocation: a password change, role change or deactivation bumps the user's version;
      // a logout or a detected refresh-token theft ends the token's session.
      const [state, sessionRevoked] = await Promise.all([
        authState.get(claims.userId),
        sessionRevocations.isRevoked(claims.sessionId),
      ]);
      if (!state?.isActive || state.tokenVersion !== claims.version || sessionRevoked) {
        throw new UnauthorizedError("Token revoked", "invalid_token");
      }
      return {
        userId: claims.userId,
        role: state.role,
        scopes: new Set(claims.scopes),
        sessionId: claims.sessionId,
        expiresAt: claims.expiresAt,
        emailVerified: state.emailVerified !== false,
      };
    }
    app.decorate("principalFromToken", principalFromToken);

    async function authorize(request: FastifyRequest, requirement: Requirement): Promise<void> {
      const token = bearerToken(request);
      const principal = token === undefined ? null : await principalFromToken(token);
      if (!principal) {
        if (requirement.optional) return;
        throw new UnauthorizedError();
      }
      const missing = requirement.scopes.filter((scope) => !principal.scopes.has(scope));
      if (missing.length > 0) {
        securityLogFor(request)({
          event: "authz.denied",
          user_id: principal.userId,
          missing_scopes: missing,
        });
        throw new ForbiddenError(`Missing scope: ${missing.join(" ")}`, "insufficient_scope");
      }
      // Writing (posts, files, transfers) needs a proven address when REQUIRE_VERIFIED_EMAIL
      // is on; tokens from before the setting or from before sign-up verification are covered
      // too, since the state is read on every request. Account management stays open, so an
      // unverified user can still fix a mistyped address or delete the account.
      if (
        options.requireVerifiedEmail &&
        !principal.emailVerified &&
        requirement.scopes.some((scope) => scope.endsWith(":write"))
      ) {
        request.log.info(
          { event: "authz.denied", user_id: principal.userId, reason: "email_not_verified" },
          "unverified",
        );
        throw new ForbiddenError("Verify your email address before writing", "email_not_verified");
      }
      request.principal = principal;
    }

    // Callback style, so an anonymous request to an optional-auth route costs no promise.
    const guard =
      (requirement: Requirement): preHandlerHookHandler =>
      (request, _reply, done) => {
        if (requirement.optional && request.headers.authorization === undefined) return done();
        authorize(request, requirement).then(() => done(), done);
      };

    app.addHook("onRoute", (route) => {
      const requirement = requirementOf(route);
      if (!requirement) return;
      const existing = route.preHandler ? [route.preHandler].flat() : [];
      route.preHandler = [guard(requirement), ...existing];
      // Every route that reads a token documents its 401 answer (a token that is invalid, or
      // none where one is required); a 403 for a missing scope only where scopes are named.
      const schema = route.schema as { response?: Record<string, unknown> };
      schema.response = {
        401: ProblemRef,
        ...(requirement.scopes.length > 0 ? { 403: ProblemRef } : {}),
        ...schema.response,
      };
      // Writing needs a proven address when REQUIRE_VERIFIED_EMAIL is on (see authorize).
      if (requirement.scopes.some((scope) => scope.endsWith(":write"))) {
        addProblemCodes(schema, { 403: ["email_not_verified"] });
      }
    });
  },
);

/** The caller of a route declared with requireAuth(); never null there. */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new UnauthorizedError();
  return request.principal;
}
