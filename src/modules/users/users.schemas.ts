import { type Static, Type } from "typebox";

export const UserId = Type.Integer({ minimum: 1, maximum: 2_147_483_647, description: "User id" });

export const UserCreateSchema = Type.Object(
  {
    email: Type.String({ format: "email", maxLength: 320, examples: ["john@example.com"] }),
    username: Type.String({
      minLength: 3,
      maxLength: 32,
      pattern: "^[A-Za-z0-9_.-]+$",
      description: "3–32 letters, digits, `_`, `.` or `-`",
      examples: ["john"],
    }),
    password: Type.String({ minLength: 8, maxLength: 128, examples: ["SecurePass123"] }),
  },
  { additionalProperties: false, title: "UserCreate" },
);

/** What anyone may see of a user. */
export const UserPublicSchema = Type.Object(
  {
    id: Type.Integer(),
    username: Type.String(),
    created_at: Type.String({ format: "date-time" }),
  },
  { title: "UserPublic" },
);

/** What the user themself (and admins) see. */
export const UserAccountSchema = Type.Object(
  {
    id: Type.Integer(),
    email: Type.String({ format: "email" }),
    username: Type.String(),
    role: Type.Union([Type.Literal("user"), Type.Literal("admin")]),
    created_at: Type.String({ format: "date-time" }),
  },
  { title: "UserAccount" },
);

export type UserCreate = Static<typeof UserCreateSchema>;
