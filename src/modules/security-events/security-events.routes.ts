import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { ProblemRef } from "../../http/openapi.js";
import { decodeCursor, isIdCursor } from "../../shared/cursor.js";
import { fetchPage } from "../../shared/paging.js";
import { requireAuth } from "../auth/auth.plugin.js";
import type { SecurityEventsRepository } from "./security-events.repository.js";
import { SecurityEventPageSchema, SecurityEventQuerySchema } from "./security-events.schemas.js";

export const securityEventsRoutes: FastifyPluginAsyncTypebox<{
  repository: SecurityEventsRepository;
}> = async (app, { repository }) => {
  app.get(
    "/admin/security-events",
    {
      schema: {
        tags: ["admin"],
        operationId: "listSecurityEvents",
        summary: "Security events, newest first (admin)",
        description:
          "What the security log recorded: logins and their failures, throttling, refresh-token " +
          "reuse, logouts, role changes, deactivations, refused scopes, rate limiting, moderation. " +
          "Stored in batches within about a second of the request; kept SECURITY_EVENTS_RETENTION_DAYS " +
          "and at most SECURITY_EVENTS_MAX_ROWS. Filter by `event`, `user_id` and a time range.",
        security: requireAuth("admin"),
        querystring: SecurityEventQuerySchema,
        response: { 200: SecurityEventPageSchema, 422: ProblemRef },
      },
    },
    async (request) => {
      const { event, user_id, from, to, limit, cursor } = request.query;
      const beforeId = cursor ? decodeCursor(cursor, isIdCursor)[0] : undefined;
      const filter = {
        event,
        userId: user_id,
        from: from ? new Date(from) : undefined,
        to: to ? new Date(to) : undefined,
        beforeId,
      };
      const page = await fetchPage(
        limit,
        (take) => repository.list(filter, take),
        (last) => [last.id],
      );
      return {
        items: page.items.map((row) => ({
          id: row.id,
          occurred_at: row.occurredAt.toISOString(),
          event: row.event,
          user_id: row.userId,
          actor_id: row.actorId,
          ip: row.ip,
          request_id: row.requestId,
          details: row.details as Record<string, unknown>,
        })),
        next_cursor: page.nextCursor,
      };
    },
  );
};
