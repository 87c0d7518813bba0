import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { ProblemRef, problemCodes } from "../../http/openapi.js";
import { securityLogFor } from "../../http/security-log.js";
import { principalOf, requireAuth } from "./auth.plugin.js";
import { RevokedOthersSchema, SessionIdParamsSchema, SessionListSchema } from "./sessions.schemas.js";
import type { SessionsService } from "./sessions.service.js";

export const sessionsRoutes: FastifyPluginAsyncTypebox<{ sessionsService: SessionsService }> = async (
  app,
  { sessionsService },
) => {
  app.get(
    "/auth/sessions",
    {
      schema: {
        tags: ["auth"],
        operationId: "listSessions",
        summary: "The caller's active sessions",
        description:
          "One entry per login that still holds a usable refresh token (a refresh-token family), " +
          "most recently used first, at most 100. `current` marks the session of the access token " +
          "making the request.",
        security: requireAuth(),
        response: { 200: SessionListSchema },
      },
    },
    async (request) => ({
      items: (await sessionsService.list(principalOf(request))).map((session) => ({
        id: session.familyId,
        created_at: session.createdAt.toISOString(),
        last_used_at: session.lastUsedAt.toISOString(),
        user_agent: session.userAgent,
        ip_address: session.ipAddress,
        current: session.current,
      })),
    }),
  );

  app.delete(
    "/auth/sessions/:id",
    {
      schema: {
        tags: ["auth"],
        operationId: "revokeSession",
        summary: "End one of the caller's sessions",
        description:
          "Its refresh tokens and access tokens stop working at once on every instance, and its " +
          "live sockets close with 4401. Ending the current session logs the caller out. A session " +
          "of another user and an unknown id are the same 404.",
        security: requireAuth(),
        params: SessionIdParamsSchema,
        response: { 204: Type.Null(), 404: ProblemRef },
        ...problemCodes({ 404: ["session_not_found"] }),
      },
    },
    async (request, reply) => {
      await sessionsService.revoke(principalOf(request), request.params.id, securityLogFor(request));
      return reply.code(204).send(null);
    },
  );

  app.post(
    "/auth/sessions/revoke-others",
    {
      schema: {
        tags: ["auth"],
        operationId: "revokeOtherSessions",
        summary: "End every session but the current one",
        description:
          "For after a lost device or a changed authentication factor: every other session's " +
          "tokens and sockets end at once on every instance.",
        security: requireAuth(),
        response: { 200: RevokedOthersSchema },
      },
    },
    async (request) => ({
      revoked: await sessionsService.revokeOthers(principalOf(request), securityLogFor(request)),
    }),
  );
};
