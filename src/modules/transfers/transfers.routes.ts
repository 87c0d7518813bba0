import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { ProblemRef } from "../../http/openapi.js";
import { principalOf, requireAuth } from "../../http/plugins/authentication.js";
import { parseIdempotencyKey, type TransfersService } from "./transfers.service.js";

// Amounts are integers in minor units, capped well inside exact-integer range.
const Amount = Type.Integer({ minimum: 1, maximum: 1_000_000_000_000, description: "Minor units" });
const Memo = Type.String({ maxLength: 200 });
const UserRef = Type.Integer({ minimum: 1, maximum: 2_147_483_647 });

const TransferSchema = Type.Object(
  {
    id: Type.Integer(),
    from_user_id: Type.Integer(),
    to_user_id: Type.Integer(),
    amount: Type.Integer(),
    memo: Type.Union([Type.String(), Type.Null()]),
    created_at: Type.String({ format: "date-time" }),
  },
  { title: "Transfer" },
);

const IDEMPOTENCY_DOC = `Requires an \`Idempotency-Key\` header (1–255 visible ASCII characters, e.g. a UUID;
missing → 400). The key, the caller, a hash of the body and the response are stored for 24 hours,
committed with the transfer itself. Repeating a request with the same key and body returns the
original status and body (the same transfer \`id\`) — also for a refusal such as
\`insufficient_funds\`. The same key with another body → 422; while the first request with that key
is still running → 409. After 24 hours the key is forgotten and counts as new.`;

export const transfersRoutes: FastifyPluginAsyncTypebox<{ transfersService: TransfersService }> = async (
  app,
  { transfersService },
) => {
  app.post(
    "/transfers",
    {
      schema: {
        tags: ["transfers"],
        summary: "Send credits to another user",
        description: IDEMPOTENCY_DOC,
        security: requireAuth("transfers:write"),
        headers: Type.Object({ "idempotency-key": Type.Optional(Type.String({ maxLength: 300 })) }),
        body: Type.Object(
          { to_user_id: UserRef, amount: Amount, memo: Type.Optional(Memo) },
          { additionalProperties: false, title: "TransferCreate" },
        ),
        response: { 201: TransferSchema, 400: ProblemRef, 404: ProblemRef, 409: ProblemRef, 422: ProblemRef },
      },
    },
    async (request, reply) => {
      const key = parseIdempotencyKey(request.headers["idempotency-key"]);
      const { userId } = principalOf(request);
      const { to_user_id, amount, memo } = request.body;
      const transfer = await transfersService.createTransfer(userId, key, {
        toUserId: to_user_id,
        amount,
        memo,
      });
      return reply.code(201).send(transfer);
    },
  );

  app.get(
    "/transfers",
    {
      schema: {
        tags: ["transfers"],
        summary: "The caller's transfers, sent and received, newest first",
        security: requireAuth(),
        querystring: Type.Object(
          {
            limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
            cursor: Type.Optional(Type.String({ maxLength: 200 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object(
            { items: Type.Array(TransferSchema), next_cursor: Type.Union([Type.String(), Type.Null()]) },
            { title: "TransferPage" },
          ),
          422: ProblemRef,
        },
      },
    },
    async (request) => {
      const { limit, cursor } = request.query;
      const page = await transfersService.listTransfers(principalOf(request).userId, limit, cursor);
      return { items: page.items, next_cursor: page.nextCursor };
    },
  );

  app.post(
    "/admin/credits",
    {
      schema: {
        tags: ["transfers"],
        summary: "Mint credits to a user (admin)",
        description: "Recorded in the ledger as a `mint` entry; the user's balance grows by `amount`.",
        security: requireAuth("admin"),
        body: Type.Object(
          { user_id: UserRef, amount: Amount, memo: Type.Optional(Memo) },
          { additionalProperties: false, title: "CreditMint" },
        ),
        response: {
          201: Type.Object(
            {
              id: Type.Integer({ description: "Ledger entry id" }),
              user_id: Type.Integer(),
              amount: Type.Integer(),
              memo: Type.Union([Type.String(), Type.Null()]),
              balance: Type.Integer({ description: "The user's balance afterwards" }),
              created_at: Type.String({ format: "date-time" }),
            },
            { title: "CreditMintResult" },
          ),
          404: ProblemRef,
          422: ProblemRef,
        },
      },
    },
    async (request, reply) => {
      const { user_id, amount, memo } = request.body;
      const minted = await transfersService.mintCredits(user_id, amount, memo ?? null);
      request.log.info(
        { event: "credits.minted", actor_id: principalOf(request).userId, user_id, amount },
        "credits minted",
      );
      return reply.code(201).send(minted);
    },
  );
};
