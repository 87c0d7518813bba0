import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { ProblemRef } from "../../http/openapi.js";
import type { User } from "./users.repository.js";
import { UserAccountSchema, UserCreateSchema, UserId, UserPublicSchema } from "./users.schemas.js";
import type { UsersService } from "./users.service.js";

export const toUserAccount = (user: User) => ({
  id: user.id,
  email: user.email,
  username: user.username,
  role: user.role as "user" | "admin",
  created_at: user.createdAt.toISOString(),
});

export const toUserPublic = (user: User) => ({
  id: user.id,
  username: user.username,
  created_at: user.createdAt.toISOString(),
});

export const usersRoutes: FastifyPluginAsyncTypebox<{ usersService: UsersService }> = async (
  app,
  { usersService },
) => {
  app.post(
    "/users",
    {
      schema: {
        tags: ["users"],
        summary: "Sign up",
        body: UserCreateSchema,
        response: { 201: UserAccountSchema, 400: ProblemRef, 422: ProblemRef },
      },
    },
    async (request, reply) => {
      const user = await usersService.registerUser(request.body);
      return reply.code(201).send(toUserAccount(user));
    },
  );

  app.get(
    "/users/:id",
    {
      schema: {
        tags: ["users"],
        summary: "A user's public profile",
        params: Type.Object({ id: UserId }),
        response: { 200: UserPublicSchema, 404: ProblemRef, 422: ProblemRef },
      },
    },
    async (request) => toUserPublic(await usersService.getUser(request.params.id)),
  );
};
