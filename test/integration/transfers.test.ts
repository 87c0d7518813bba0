import { randomUUID } from "node:crypto";
import { count, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ledgerEntries, outboxEvents, transfers } from "../../src/platform/database/schema.js";
import { bearer, login, type Session, signUpAndLogin } from "../helpers/auth.js";
import { ledgerInvariants } from "../helpers/ledger.js";
import { createTestApp, type TestApp } from "../helpers/test-app.js";

const ADMIN = { email: "bank-admin@example.com", password: "AdminPass-123456" };
let t: TestApp;
let admin: string;

beforeAll(async () => {
  t = await createTestApp({ ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password });
  admin = (await login(t.app, ADMIN.email, ADMIN.password)).json().access_token;
});
afterAll(() => t.close());

const mint = (userId: number, amount: number) =>
  t.app.inject({
    method: "POST",
    url: "/api/v1/admin/credits",
    headers: bearer(admin),
    payload: { user_id: userId, amount, memo: "opening balance" },
  });
const send = (from: Session, body: object, key: string | null = randomUUID()) =>
  t.app.inject({
    method: "POST",
    url: "/api/v1/transfers",
    headers: { ...bearer(from.access), ...(key !== null ? { "idempotency-key": key } : {}) },
    payload: body,
  });
const balanceOf = async (s: Session) =>
  (await t.app.inject({ url: "/api/v1/users/me", headers: bearer(s.access) })).json().balance as number;

async function funded(amount: number) {
  const s = await signUpAndLogin(t.app);
  if (amount > 0) expect((await mint(s.id, amount)).statusCode).toBe(201);
  return s;
}

describe("POST /api/v1/admin/credits", () => {
  it("mints through the ledger; users get 403", async () => {
    const s = await signUpAndLogin(t.app);
    const res = await mint(s.id, 500);
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({ user_id: s.id, amount: 500, balance: 500, memo: "opening balance" });
    expect(await balanceOf(s)).toBe(500);
    const denied = await t.app.inject({
      method: "POST",
      url: "/api/v1/admin/credits",
      headers: bearer(s.access),
      payload: { user_id: s.id, amount: 5 },
    });
    expect(denied.statusCode).toBe(403);
    expect((await mint(99999999, 5)).statusCode).toBe(404);
  });
});

describe("POST /api/v1/transfers", () => {
  it("moves credits: 201, both balances change, two ledger entries, one outbox event", async () => {
    const a = await funded(1000);
    const b = await funded(0);
    const res = await send(a, { to_user_id: b.id, amount: 250, memo: "lunch" });
    expect(res.statusCode).toBe(201);
    const transfer = res.json();
    expect(transfer).toMatchObject({ from_user_id: a.id, to_user_id: b.id, amount: 250, memo: "lunch" });
    expect(await balanceOf(a)).toBe(750);
    expect(await balanceOf(b)).toBe(250);
    const entries = await t.db.database.db
      .select()
      .from(ledgerEntries)
      .where(eq(ledgerEntries.transferId, transfer.id));
    expect(entries.map((e) => e.amount).sort((x, y) => x - y)).toEqual([-250, 250]);
    const events = await t.db.database.db.select().from(outboxEvents).where(eq(outboxEvents.userId, b.id));
    expect(events).toEqual([expect.objectContaining({ topic: "transfer.received", payload: transfer })]);
  });

  it("refuses insufficient funds with 400 and moves nothing", async () => {
    const a = await funded(100);
    const b = await funded(0);
    const res = await send(a, { to_user_id: b.id, amount: 101 });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe("insufficient_funds");
    expect(await balanceOf(a)).toBe(100);
    expect(await balanceOf(b)).toBe(0);
  });

  it("refuses a transfer to self (400), to an unknown or inactive user (404)", async () => {
    const a = await funded(100);
    expect((await send(a, { to_user_id: a.id, amount: 1 })).json().code).toBe("transfer_to_self");
    const unknown = await send(a, { to_user_id: 99999999, amount: 1 });
    expect(unknown.statusCode).toBe(404);
    const b = await funded(0);
    await t.app.inject({
      method: "PATCH",
      url: `/api/v1/users/${b.id}`,
      headers: bearer(admin),
      payload: { is_active: false },
    });
    expect((await send(a, { to_user_id: b.id, amount: 1 })).statusCode).toBe(404);
    expect(await balanceOf(a)).toBe(100);
  });

  it("requires the Idempotency-Key header (400) and a sane one", async () => {
    const a = await funded(10);
    const b = await funded(0);
    const missing = await send(a, { to_user_id: b.id, amount: 1 }, null);
    expect(missing.statusCode).toBe(400);
    expect(missing.json().code).toBe("idempotency_key_required");
    expect((await send(a, { to_user_id: b.id, amount: 1 }, "has space")).json().code).toBe(
      "invalid_idempotency_key",
    );
    expect((await send(a, { to_user_id: b.id, amount: 1 }, `"quoted-key-${randomUUID()}"`)).statusCode).toBe(
      201,
    );
  });

  it.each([["10"], [10.5], [0], [-5], [1e13], [null]])("rejects amount %j with 422", async (amount) => {
    const a = await funded(10);
    const res = await send(a, { to_user_id: a.id + 1, amount });
    expect(res.statusCode).toBe(422);
    expect(res.json().errors[0].loc).toEqual(["body", "amount"]);
  });

  it("needs the transfers:write scope", async () => {
    const a = await funded(10);
    const narrowed = (await login(t.app, a.email, a.password, "posts:write")).json().access_token;
    const res = await t.app.inject({
      method: "POST",
      url: "/api/v1/transfers",
      headers: { ...bearer(narrowed), "idempotency-key": randomUUID() },
      payload: { to_user_id: 1, amount: 1 },
    });
    expect(res.statusCode).toBe(403);
  });
});

describe("idempotency", () => {
  it("replays the original response for the same key and body: one transfer only", async () => {
    const a = await funded(100);
    const b = await funded(0);
    const key = randomUUID();
    const first = await send(a, { to_user_id: b.id, amount: 30 }, key);
    const again = await send(a, { to_user_id: b.id, amount: 30 }, key);
    expect(again.statusCode).toBe(201);
    expect(again.json()).toEqual(first.json());
    expect(await balanceOf(a)).toBe(70);
    const [{ n } = { n: 0 }] = await t.db.database.db
      .select({ n: count() })
      .from(transfers)
      .where(eq(transfers.fromUserId, a.id));
    expect(n).toBe(1);
  });

  it("replays a refusal too, and answers 422 for the same key with another body", async () => {
    const a = await funded(5);
    const b = await funded(0);
    const key = randomUUID();
    expect((await send(a, { to_user_id: b.id, amount: 50 }, key)).json().code).toBe("insufficient_funds");
    await mint(a.id, 100);
    const replay = await send(a, { to_user_id: b.id, amount: 50 }, key);
    expect(replay.statusCode).toBe(400);
    expect(replay.json().code).toBe("insufficient_funds");
    const other = await send(a, { to_user_id: b.id, amount: 51 }, key);
    expect(other.statusCode).toBe(422);
    expect(other.json().code).toBe("idempotency_key_reused");
    expect(other.json().errors[0].type).toBe("idempotency_key_reused");
  });

  it("keeps keys per caller: B reusing A's key gets its own transfer", async () => {
    const a = await funded(100);
    const b = await funded(100);
    const c = await funded(0);
    const key = randomUUID();
    const fromA = await send(a, { to_user_id: c.id, amount: 10 }, key);
    const fromB = await send(b, { to_user_id: c.id, amount: 10 }, key);
    expect(fromB.statusCode).toBe(201);
    expect(fromB.json().id).not.toBe(fromA.json().id);
    expect(fromB.json().from_user_id).toBe(b.id);
    expect(await balanceOf(c)).toBe(20);
  });

  it("20 parallel requests with one key make exactly one transfer; the rest replay or get 409", async () => {
    const a = await funded(1000);
    const b = await funded(0);
    const key = randomUUID();
    const results = await Promise.all(
      Array.from({ length: 20 }, () => send(a, { to_user_id: b.id, amount: 7 }, key)),
    );
    const statuses = results.map((r) => r.statusCode);
    expect(statuses.every((s) => s === 201 || s === 409)).toBe(true);
    const ids = new Set(results.filter((r) => r.statusCode === 201).map((r) => r.json().id));
    expect(ids.size).toBe(1);
    expect(await balanceOf(a)).toBe(993);
  });
});

describe("GET /api/v1/transfers", () => {
  it("lists the caller's transfers, sent and received, newest first, page by page", async () => {
    const a = await funded(100);
    const b = await funded(100);
    for (let i = 1; i <= 5; i++) await send(i % 2 ? a : b, { to_user_id: i % 2 ? b.id : a.id, amount: i });
    const seen: number[] = [];
    let cursor: string | null = null;
    do {
      const url: string = `/api/v1/transfers?limit=2${cursor ? `&cursor=${cursor}` : ""}`;
      const page = (await t.app.inject({ url, headers: bearer(a.access) })).json();
      seen.push(...page.items.map((x: { amount: number }) => x.amount));
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen).toEqual([5, 4, 3, 2, 1]);
    const outsider = await signUpAndLogin(t.app);
    expect(
      (await t.app.inject({ url: "/api/v1/transfers", headers: bearer(outsider.access) })).json().items,
    ).toEqual([]);
  });
});

it("keeps the ledger invariants after everything above", async () => {
  const state = await ledgerInvariants(t.db.database);
  expect(state.negativeBalances).toBe(0);
  expect(state.usersWhoseBalanceIsNotTheirLedger).toBe(0);
  expect(state.unbalancedTransfers).toBe(0);
  expect(state.balancesTotal).toBe(state.ledgerTotal);
});
