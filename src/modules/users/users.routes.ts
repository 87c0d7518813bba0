import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { ProblemRef, problemCodes } from "../../http/openapi.js";
import { securityLogFor } from "../../http/security-log.js";
import { optionalAuth, principalOf, requireAuth } from "../auth/auth.plugin.js";
import type { AccountLifecycleService } from "./account-lifecycle.service.js";
import { toAdminUser, toMe, toProfile, toUserAccount } from "./users.mappers.js";
import {
  AdminUserPageSchema,
  AdminUserSchema,
  AdminUserUpdateSchema,
  MeSchema,
  MeUpdateSchema,
  UserAccountSchema,
  UserCreateSchema,
  UserIdParamsSchema,
  UserListQuerySchema,
  UserProfileSchema,
} from "./users.schemas.js";
import type { UsersService } from "./users.service.js";

export const usersRoutes: FastifyPluginAsyncTypebox<{
  usersService: UsersService;
  lifecycle: AccountLifecycleService;
}> = async (app, { usersService, lifecycle }) => {
  app.post(
    "/users",
    {
      schema: {
        tags: ["users"],
        operationId: "createUser",
        summary: "Sign up",
        security: [],
        description:
          "Sign-ups are limited per client address (`SIGNUP_PER_HOUR`, 429 with Retry-After). The " +
          "password must be 8–128 characters, not one of the 10,000 most common passwords, and must " +
          "not contain the username or the email's local part (400 `weak_password`).",
        body: UserCreateSchema,
        response: { 201: UserAccountSchema, 400: ProblemRef, 422: ProblemRef, 429: ProblemRef },
        ...problemCodes({
          400: ["weak_password", "email_taken", "username_taken"],
          429: ["too_many_signups"],
        }),
      },
    },
    async (request, reply) => {
      const user = await usersService.signUp(request.body, request.ip);
      securityLogFor(request)({ event: "user.registered", user_id: user.id });
      return reply.code(201).send(toUserAccount(user));
    },
  );

  app.get(
    "/users/me",
    {
      schema: {
        tags: ["users"],
        operationId: "getCurrentUser",
        summary: "The caller's account",
        security: requireAuth(),
        response: { 200: MeSchema },
      },
    },
    async (request) => toMe(await usersService.getAccount(principalOf(request).userId)),
  );

  app.patch(
    "/users/me",
    {
      schema: {
        tags: ["users"],
        operationId: "updateCurrentUser",
        summary: "Change the caller's username, password or email",
        description:
          "A new `email` needs `current_password` too, and does not apply yet: the new address gets a " +
          "confirmation link (POST /auth/email-change/confirm) and the current one a notice with a cancel " +
          "link (POST /auth/email-change/cancel). The answer shows the account as it is, old address " +
          "included. Whether another account has the new address is checked on confirmation (409 there), " +
          "so this answers alike for any address. " +
          "A new `password` needs `current_password`. It signs out every other session at once " +
          "(their access and refresh tokens stop working); this session's access token also stops " +
          "working, and its refresh token gets a new one; every live socket of the user closes with " +
          "4401. Wrong `current_password` guesses are throttled like logins (429 with Retry-After). " +
          "The new password must not be a common one or contain the username or email (400 " +
          "`weak_password`).",
        security: requireAuth(),
        body: MeUpdateSchema,
        response: { 200: MeSchema, 400: ProblemRef, 422: ProblemRef, 429: ProblemRef },
        ...problemCodes({
          400: [
            "current_password_required",
            "invalid_current_password",
            "weak_password",
            "username_taken",
            "email_unchanged",
          ],
          429: ["too_many_attempts", "too_many_requests"],
        }),
      },
    },
    async (request) => {
      const { userId, sessionId } = principalOf(request);
      const { username, email, password, current_password } = request.body;
      const log = securityLogFor(request);
      const changes = { username, password, currentPassword: current_password };
      // The email change checks current_password first, before a password change replaces
      // it; the other changes apply before the email change is recorded, so a new password
      // in the same request does not void it.
      if (email !== undefined) {
        let updated: Awaited<ReturnType<typeof usersService.updateOwnAccount>> | undefined;
        await lifecycle.requestEmailChange(
          userId,
          email,
          { currentPassword: current_password },
          { address: request.ip, log },
          username === undefined && password === undefined
            ? undefined
            : async () => {
                updated = await usersService.updateOwnAccount(userId, sessionId, changes, log, request.ip);
              },
        );
        return toMe(updated ?? (await usersService.getUser(userId)));
      }
      return toMe(await usersService.updateOwnAccount(userId, sessionId, changes, log, request.ip));
    },
  );

  app.get(
    "/users",
    {
      schema: {
        tags: ["users"],
        operationId: "listUsers",
        summary: "List users (admin)",
        security: requireAuth("admin"),
        querystring: UserListQuerySchema,
        response: { 200: AdminUserPageSchema, 422: ProblemRef },
      },
    },
    async (request) => {
      const { limit, cursor, q } = request.query;
      const page = await usersService.listUsers(limit, cursor, q);
      return { items: page.items.map(toAdminUser), next_cursor: page.nextCursor };
    },
  );

  app.get(
    "/users/:id",
    {
      schema: {
        tags: ["users"],
        operationId: "getUser",
        summary: "A user's profile",
        description: "Public fields for anyone; `email` and `role` too for the user themself and admins.",
        security: optionalAuth,
        params: UserIdParamsSchema,
        response: { 200: UserProfileSchema, 404: ProblemRef, 422: ProblemRef },
        ...problemCodes({ 404: ["user_not_found"] }),
      },
    },
    async (request) => {
      const user = await usersService.getProfile(request.params.id);
      const caller = request.principal;
      return toProfile(user, caller !== null && (caller.userId === user.id || caller.role === "admin"));
    },
  );

  app.patch(
    "/users/:id",
    {
      schema: {
        tags: ["users"],
        operationId: "updateUser",
        summary: "Change a user's role or activation (admin)",
        description:
          "Either change revokes that user's access tokens at once and closes their live sockets (4401); " +
          "deactivation also ends their sessions. A change that would leave no active admin is refused " +
          "with 409 `last_admin`.",
        security: requireAuth("admin"),
        params: UserIdParamsSchema,
        body: AdminUserUpdateSchema,
        response: { 200: AdminUserSchema, 404: ProblemRef, 409: ProblemRef, 422: ProblemRef },
        ...problemCodes({ 404: ["user_not_found"], 409: ["last_admin"] }),
      },
    },
    async (request) => {
      const actor = principalOf(request);
      const { role, is_active } = request.body;
      const user = await usersService.adminUpdateUser(
        actor.userId,
        request.params.id,
        { role, isActive: is_active },
        securityLogFor(request),
      );
      return toAdminUser(user);
    },
  );

  app.delete(
    "/users/:id/sessions",
    {
      schema: {
        tags: ["users"],
        operationId: "revokeUserSessions",
        summary: "Sign a user out everywhere (admin)",
        description:
          "Ends every session of the user: refresh tokens and the access tokens issued with them stop " +
          "working at once on every instance, and the user's live sockets close with 4401. The account " +
          "itself is unchanged (the user may sign in again). Recorded as `user.sessions_revoked`.",
        security: requireAuth("admin"),
        params: UserIdParamsSchema,
        response: { 204: Type.Null(), 404: ProblemRef, 422: ProblemRef },
        ...problemCodes({ 404: ["user_not_found"] }),
      },
    },
    async (request, reply) => {
      await usersService.adminRevokeSessions(
        principalOf(request).userId,
        request.params.id,
        securityLogFor(request),
      );
      return reply.code(204).send(null);
    },
  );
};
