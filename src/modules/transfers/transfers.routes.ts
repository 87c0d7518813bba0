import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { ProblemRef, problemCodes } from "../../http/openapi.js";
import { securityLogFor } from "../../http/security-log.js";
import { principalOf, requireAuth } from "../auth/auth.plugin.js";
import { toCreditMintResult } from "./transfers.mappers.js";
import {
  CreditMintResultSchema,
  CreditMintSchema,
  IdempotencyHeadersSchema,
  TransferCreateSchema,
  TransferListQuerySchema,
  TransferPageSchema,
  TransferSchema,
} from "./transfers.schemas.js";
import { parseIdempotencyKey, type TransfersService } from "./transfers.service.js";

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
        operationId: "createTransfer",
        summary: "Send credits to another user",
        description: IDEMPOTENCY_DOC,
        security: requireAuth("transfers:write"),
        headers: IdempotencyHeadersSchema,
        body: TransferCreateSchema,
        response: { 201: TransferSchema, 400: ProblemRef, 404: ProblemRef, 409: ProblemRef, 422: ProblemRef },
        ...problemCodes({
          400: [
            "idempotency_key_required",
            "invalid_idempotency_key",
            "transfer_to_self",
            "insufficient_funds",
          ],
          404: ["recipient_not_found"],
          409: ["idempotency_key_in_use"],
          422: ["idempotency_key_reused"],
        }),
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
        operationId: "listTransfers",
        summary: "The caller's transfers, sent and received, newest first",
        security: requireAuth(),
        querystring: TransferListQuerySchema,
        response: { 200: TransferPageSchema, 422: ProblemRef },
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
        operationId: "mintCredits",
        summary: "Mint credits to a user (admin)",
        description: "Recorded in the ledger as a `mint` entry; the user's balance grows by `amount`.",
        security: requireAuth("admin"),
        body: CreditMintSchema,
        response: { 201: CreditMintResultSchema, 404: ProblemRef, 422: ProblemRef },
        ...problemCodes({ 404: ["user_not_found"] }),
      },
    },
    async (request, reply) => {
      const { user_id, amount, memo } = request.body;
      const minted = await transfersService.mintCredits(user_id, amount, memo ?? null);
      securityLogFor(request)({
        event: "credits.minted",
        actor_id: principalOf(request).userId,
        user_id,
        amount,
      });
      return reply.code(201).send(toCreditMintResult(minted));
    },
  );
};
