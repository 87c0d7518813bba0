import { Type } from "typebox";

export const SecurityEventSchema = Type.Object(
  {
    id: Type.Integer(),
    occurred_at: Type.String({ format: "date-time" }),
    event: Type.String({ description: "e.g. auth.login.failed, user.deactivated, post.moderated" }),
    user_id: Type.Union([Type.Integer(), Type.Null()], { description: "The user concerned" }),
    actor_id: Type.Union([Type.Integer(), Type.Null()], {
      description: "The admin who acted, for admin actions",
    }),
    ip: Type.Union([Type.String(), Type.Null()]),
    request_id: Type.Union([Type.String(), Type.Null()]),
    details: Type.Record(Type.String(), Type.Unknown(), {
      description: "The event's other fields (reason, scope, …); never a password or a token",
    }),
  },
  { title: "SecurityEvent" },
);

export const SecurityEventPageSchema = Type.Object(
  { items: Type.Array(SecurityEventSchema), next_cursor: Type.Union([Type.String(), Type.Null()]) },
  { title: "SecurityEventPage" },
);

export const SecurityEventQuerySchema = Type.Object(
  {
    event: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: "Exact event name" })),
    user_id: Type.Optional(Type.Integer({ minimum: 1, maximum: 2_147_483_647 })),
    from: Type.Optional(Type.String({ format: "date-time", description: "Events at or after this time" })),
    to: Type.Optional(Type.String({ format: "date-time", description: "Events at or before this time" })),
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);
