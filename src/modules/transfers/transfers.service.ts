import { createHash } from "node:crypto";
import { currentTraceparent } from "../../platform/telemetry/telemetry.js";
import { decodeCursor, isIdCursor } from "../../shared/cursor.js";
import {
  BadRequestError,
  ConflictError,
  DomainError,
  NotFoundError,
  ValidationFailedError,
} from "../../shared/errors.js";
import { fetchPage } from "../../shared/paging.js";
import { withTransactionRetry } from "../../shared/transactions.js";
import { type MintedCredits, toTransferResponse } from "./transfers.mappers.js";
import type { TransfersRepository } from "./transfers.repository.js";
import type { TransferResponse } from "./transfers.schemas.js";

export interface TransferRequest {
  toUserId: number;
  amount: number;
  memo?: string | undefined;
}

/** A transfer's outcome as stored with its key: the 201 body, or a business refusal. */
type Outcome =
  | { status: 201; body: TransferResponse }
  | { status: 400 | 404; body: { code: string; detail: string } };

// Keys are opaque to us; a client may send them bare or as a structured-field string ("…").
const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;
export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;

export function parseIdempotencyKey(header: string | undefined): string {
  if (header === undefined || header.trim() === "") {
    throw new BadRequestError(
      "idempotency_key_required",
      "The Idempotency-Key header is required for transfers",
    );
  }
  const raw = header.trim();
  const key = raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"') ? raw.slice(1, -1) : raw;
  if (!KEY_PATTERN.test(key)) {
    throw new BadRequestError(
      "invalid_idempotency_key",
      "Idempotency-Key must be 1–255 visible ASCII characters",
    );
  }
  return key;
}

const fingerprint = (request: TransferRequest) =>
  createHash("sha256")
    .update(JSON.stringify([request.toUserId, request.amount, request.memo ?? null]))
    .digest("hex");

function outcomeOrThrow(outcome: Outcome): TransferResponse {
  if (outcome.status === 201) return outcome.body;
  throw new DomainError(outcome.status, outcome.body.code, outcome.body.detail);
}

export function createTransfersService({
  transfersRepository,
  idempotencyTtlMs = IDEMPOTENCY_TTL_MS,
  onRetry,
  afterEventsCommitted,
  onOutcome,
}: {
  transfersRepository: TransfersRepository;
  idempotencyTtlMs?: number;
  onRetry?: (code: string, attempt: number) => void;
  /** Told how each transfer request ended: `completed`, an error's code, or `error` (metrics). */
  onOutcome?: (outcome: string) => void;
  /** Told after a transaction that recorded live events committed (the relay sends them at once). */
  afterEventsCommitted?: () => void;
}) {
  async function transfer(
    fromUserId: number,
    key: string,
    request: TransferRequest,
  ): Promise<TransferResponse> {
    if (request.toUserId === fromUserId) {
      throw new BadRequestError("transfer_to_self", "You cannot transfer credits to yourself");
    }
    const { status, body } = await withTransactionRetry(
      () =>
        transfersRepository.transfer({
          fromUserId,
          toUserId: request.toUserId,
          amount: request.amount,
          memo: request.memo ?? null,
          key,
          requestHash: fingerprint(request),
          ttlMs: idempotencyTtlMs,
          // With traces on, the recipient's event remembers the request that wrote it.
          traceparent: currentTraceparent() ?? null,
        }),
      onRetry ? { onRetry } : {},
    );
    if (status === 409) {
      throw new ConflictError(
        "idempotency_key_in_use",
        "A request with this Idempotency-Key is still in progress",
      );
    }
    if (status === 422) {
      throw new ValidationFailedError(
        [
          {
            loc: ["header", "idempotency-key"],
            msg: "This Idempotency-Key was used with a different request",
            type: "idempotency_key_reused",
          },
        ],
        "idempotency_key_reused",
      );
    }
    const outcome = { status, body } as Outcome;
    if (outcome.status === 201) afterEventsCommitted?.();
    return outcomeOrThrow(outcome);
  }

  /** Reports the outcome of `run` without changing it. */
  async function reported<T>(run: () => Promise<T>): Promise<T> {
    if (!onOutcome) return run();
    try {
      const result = await run();
      onOutcome("completed");
      return result;
    } catch (error) {
      onOutcome(error instanceof DomainError ? error.code : "error");
      throw error;
    }
  }

  return {
    /**
     * One transaction (one statement, see `transfersRepository.transfer`): take the key's
     * lock (409 if a request with it is running), replay a stored outcome (422 if the body
     * differs), else lock both accounts in id order, check funds, write the ledger and
     * balances, and store the outcome under the key — all committed together, so a crash
     * leaves either everything or nothing.
     */
    async createTransfer(
      fromUserId: number,
      key: string,
      request: TransferRequest,
    ): Promise<TransferResponse> {
      return reported(() => transfer(fromUserId, key, request));
    },

    /** Admin mint: credits enter the system only through a ledger entry. */
    async mintCredits(userId: number, amount: number, memo: string | null): Promise<MintedCredits> {
      return withTransactionRetry(() =>
        transfersRepository.transaction(async (tx) => {
          const accounts = await transfersRepository.lockAccounts(tx, [userId]);
          if (!accounts.has(userId)) throw new NotFoundError(`User ${userId} not found`, "user_not_found");
          const balance = await transfersRepository.addToBalance(tx, userId, amount);
          const entry = await transfersRepository.insertMint(tx, { userId, amount, memo });
          return { entryId: entry.id, userId, amount, memo, balance, createdAt: entry.createdAt };
        }),
      );
    },

    /** The caller's transfers, sent and received, newest first, keyset-paginated by id. */
    async listTransfers(userId: number, limit: number, cursor: string | undefined) {
      const beforeId = cursor ? decodeCursor(cursor, isIdCursor)[0] : undefined;
      const page = await fetchPage(
        limit,
        (take) => transfersRepository.listForUser(userId, beforeId, take),
        (last) => [last.id],
      );
      return { items: page.items.map(toTransferResponse), nextCursor: page.nextCursor };
    },
  };
}

export type TransfersService = ReturnType<typeof createTransfersService>;
