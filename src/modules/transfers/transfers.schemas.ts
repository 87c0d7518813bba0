import { type Static, Type } from "typebox";

// Amounts are integers in minor units, capped well inside exact-integer range.
const Amount = Type.Integer({ minimum: 1, maximum: 1_000_000_000_000, description: "Minor units" });
const Memo = Type.String({ maxLength: 200 });
const UserRef = Type.Integer({ minimum: 1, maximum: 2_147_483_647 });

export const TransferSchema = Type.Object(
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
export type TransferResponse = Static<typeof TransferSchema>;

export const IdempotencyHeadersSchema = Type.Object({
  "idempotency-key": Type.Optional(Type.String({ maxLength: 300 })),
});

export const TransferCreateSchema = Type.Object(
  { to_user_id: UserRef, amount: Amount, memo: Type.Optional(Memo) },
  { additionalProperties: false, title: "TransferCreate" },
);

export const TransferListQuerySchema = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);

export const TransferPageSchema = Type.Object(
  { items: Type.Array(TransferSchema), next_cursor: Type.Union([Type.String(), Type.Null()]) },
  { title: "TransferPage" },
);

export const CreditMintSchema = Type.Object(
  { user_id: UserRef, amount: Amount, memo: Type.Optional(Memo) },
  { additionalProperties: false, title: "CreditMint" },
);

export const CreditMintResultSchema = Type.Object(
  {
    id: Type.Integer({ description: "Ledger entry id" }),
    user_id: Type.Integer(),
    amount: Type.Integer(),
    memo: Type.Union([Type.String(), Type.Null()]),
    balance: Type.Integer({ description: "The user's balance afterwards" }),
    created_at: Type.String({ format: "date-time" }),
  },
  { title: "CreditMintResult" },
);
export type CreditMintResult = Static<typeof CreditMintResultSchema>;
