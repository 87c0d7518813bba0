import type { TransferRow } from "../../platform/database/schema.js";
import type { CreditMintResult, TransferResponse } from "./transfers.schemas.js";

/**
 * The public representation of a transfer: the 201 body, the body stored with its
 * Idempotency-Key, the list item and the recipient's live event alike.
 */
export const toTransferResponse = (row: TransferRow): TransferResponse => ({
  id: row.id,
  from_user_id: row.fromUserId,
  to_user_id: row.toUserId,
  amount: row.amount,
  memo: row.memo,
  created_at: row.createdAt.toISOString(),
});

export interface MintedCredits {
  entryId: number;
  userId: number;
  amount: number;
  memo: string | null;
  balance: number;
  createdAt: Date;
}

export const toCreditMintResult = (minted: MintedCredits): CreditMintResult => ({
  id: minted.entryId,
  user_id: minted.userId,
  amount: minted.amount,
  memo: minted.memo,
  balance: minted.balance,
  created_at: minted.createdAt.toISOString(),
});
