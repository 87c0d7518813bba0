import { Type } from "typebox";

export const SessionSchema = Type.Object(
  {
    id: Type.String({ format: "uuid", description: "The session id (the `sid` claim of its access tokens)" }),
    created_at: Type.String({ format: "date-time", description: "When the session logged in" }),
    last_used_at: Type.String({
      format: "date-time",
      description: "When the session last logged in or refreshed its tokens",
    }),
    user_agent: Type.Union([Type.String(), Type.Null()], {
      description: "The User-Agent that logged in (at most 256 characters)",
    }),
    ip_address: Type.Union([Type.String(), Type.Null()], {
      description: "The client address that logged in",
    }),
    current: Type.Boolean({ description: "True for the session making this request" }),
  },
  { title: "Session" },
);

export const SessionListSchema = Type.Object(
  { items: Type.Array(SessionSchema) },
  {
    title: "SessionList",
    examples: [
      {
        items: [
          {
            id: "0b7c5c1e-4a53-4c1b-9a55-2f1d0d6f7a10",
            created_at: "2026-11-30T09:12:44.120Z",
            last_used_at: "2026-11-30T10:02:01.503Z",
            user_agent: "curl/8.5.0",
            ip_address: "203.0.113.7",
            current: true,
          },
          {
            id: "7e7f1a7e-0d4e-4a5f-8f0c-3c9a1f2b6d44",
            created_at: "2026-11-28T18:40:10.000Z",
            last_used_at: "2026-11-29T21:15:33.871Z",
            user_agent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
            ip_address: "198.51.100.23",
            current: false,
          },
        ],
      },
    ],
  },
);

export const SessionIdParamsSchema = Type.Object(
  { id: Type.String({ minLength: 1, maxLength: 64, examples: ["7e7f1a7e-0d4e-4a5f-8f0c-3c9a1f2b6d44"] }) },
  { additionalProperties: false },
);

export const RevokedOthersSchema = Type.Object(
  { revoked: Type.Integer({ minimum: 0, description: "How many sessions ended" }) },
  { title: "RevokedSessions", examples: [{ revoked: 2 }] },
);
