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

const EmailVerified = Type.Boolean({
  description: "Whether the email was proven by a mailed link (sign-up verification or an email change)",
});

/** What the user themself (and admins) see. */
export const UserAccountSchema = Type.Object(
  {
    id: Type.Integer(),
    email: Type.String({ format: "email" }),
    username: Type.String(),
    role: Type.Union([Type.Literal("user"), Type.Literal("admin")]),
    email_verified: EmailVerified,
    created_at: Type.String({ format: "date-time" }),
  },
  { title: "UserAccount" },
);

const Username = Type.String({
  minLength: 3,
  maxLength: 32,
  pattern: "^[A-Za-z0-9_.-]+$",
  description: "3–32 letters, digits, `_`, `.` or `-`",
});
const Password = Type.String({ minLength: 8, maxLength: 128 });
const RoleSchema = Type.Union([Type.Literal("user"), Type.Literal("admin")]);

/** A profile as the caller may see it: email and role only for themself and admins. */
export const UserProfileSchema = Type.Object(
  {
    id: Type.Integer(),
    username: Type.String(),
    email: Type.Optional(Type.String({ format: "email" })),
    role: Type.Optional(RoleSchema),
    email_verified: Type.Optional(EmailVerified),
    created_at: Type.String({ format: "date-time" }),
  },
  { title: "UserProfile" },
);

export const MeSchema = Type.Object(
  {
    id: Type.Integer(),
    email: Type.String({ format: "email" }),
    username: Type.String(),
    role: RoleSchema,
    email_verified: EmailVerified,
    balance: Type.Integer({ description: "Credits in minor units" }),
    created_at: Type.String({ format: "date-time" }),
  },
  { title: "Me" },
);

export const MeUpdateSchema = Type.Object(
  {
    username: Type.Optional(Username),
    email: Type.Optional(
      Type.String({
        format: "email",
        maxLength: 320,
        description:
          "Asks for a change of address (needs current_password); it applies once confirmed by mail",
        examples: ["john.new@example.com"],
      }),
    ),
    password: Type.Optional(Password),
    current_password: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  },
  { additionalProperties: false, title: "MeUpdate", minProperties: 1 },
);

export const AdminUserSchema = Type.Object(
  {
    id: Type.Integer(),
    email: Type.String({ format: "email" }),
    username: Type.String(),
    role: RoleSchema,
    email_verified: EmailVerified,
    is_active: Type.Boolean(),
    balance: Type.Integer(),
    created_at: Type.String({ format: "date-time" }),
    updated_at: Type.String({ format: "date-time" }),
  },
  { title: "AdminUser" },
);

export const AdminUserUpdateSchema = Type.Object(
  { role: Type.Optional(RoleSchema), is_active: Type.Optional(Type.Boolean()) },
  { additionalProperties: false, title: "AdminUserUpdate", minProperties: 1 },
);

export const UserListQuerySchema = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
    q: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 100,
        description: "Only users whose email or username contains this",
      }),
    ),
  },
  { additionalProperties: false },
);

export const AdminUserPageSchema = Type.Object(
  { items: Type.Array(AdminUserSchema), next_cursor: Type.Union([Type.String(), Type.Null()]) },
  { title: "AdminUserPage" },
);

export type UserCreate = Static<typeof UserCreateSchema>;

export const UserIdParamsSchema = Type.Object({ id: UserId });
