import { randomUUID } from "node:crypto";
import fc from "fast-check";
import { afterAll, beforeAll, expect, it } from "vitest";
import { bearer, login, type Session, signUpAndLogin } from "../helpers/auth.js";
import { ledgerInvariants } from "../helpers/ledger.js";
import { createTestApp, type TestApp } from "../helpers/test-app.js";

// Model-based: random sequences of mints, transfers (some impossible), client retries with
// the same key and key reuse with another body; after each step the API must agree with a
// simple in-memory model of the balances.
let t: TestApp;
let admin: string;

beforeAll(async () => {
  t = await createTestApp({ ADMIN_EMAIL: "model@example.com", ADMIN_PASSWORD: "AdminPass-123456" });
  admin = (await login(t.app, "model@example.com", "AdminPass-123456")).json().access_token;
});
afterAll(() => t.close());

interface Model {
  balances: number[];
  lastKey: { from: number; to: number; amount: number; key: string; status: number } | undefined;
}
interface Real {
  users: Session[];
}

const send = (real: Real, from: number, to: number, amount: number, key: string) =>
  t.app.inject({
    method: "POST",
    url: "/api/v1/transfers",
    headers: { ...bearer((real.users[from] as Session).access), "idempotency-key": key },
    payload: { to_user_id: (real.users[to] as Session).id, amount },
  });

class Mint implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly user: number,
    readonly amount: number,
  ) {}
  check = () => true;
  async run(model: Model, real: Real) {
    const res = await t.app.inject({
      method: "POST",
      url: "/api/v1/admin/credits",
      headers: bearer(admin),
      payload: { user_id: (real.users[this.user] as Session).id, amount: this.amount },
    });
    expect(res.statusCode).toBe(201);
    model.balances[this.user] = (model.balances[this.user] ?? 0) + this.amount;
    expect(res.json().balance).toBe(model.balances[this.user]);
  }
  toString = () => `mint(${this.user}, ${this.amount})`;
}

class Transfer implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly from: number,
    readonly to: number,
    readonly amount: number,
  ) {}
  check = (model: Readonly<Model>) => this.from !== this.to && model.balances.length > 0;
  async run(model: Model, real: Real) {
    const key = randomUUID();
    const res = await send(real, this.from, this.to, this.amount, key);
    const funded = (model.balances[this.from] ?? 0) >= this.amount;
    expect(res.statusCode).toBe(funded ? 201 : 400);
    if (funded) {
      model.balances[this.from] = (model.balances[this.from] ?? 0) - this.amount;
      model.balances[this.to] = (model.balances[this.to] ?? 0) + this.amount;
    }
    model.lastKey = { from: this.from, to: this.to, amount: this.amount, key, status: res.statusCode };
  }
  toString = () => `transfer(${this.from} → ${this.to}, ${this.amount})`;
}

class Retry implements fc.AsyncCommand<Model, Real> {
  check = (model: Readonly<Model>) => model.lastKey !== undefined;
  async run(model: Model, real: Real) {
    const last = model.lastKey as NonNullable<Model["lastKey"]>;
    const res = await send(real, last.from, last.to, last.amount, last.key);
    expect(res.statusCode).toBe(last.status); // a replay: nothing moves again
  }
  toString = () => "retry(last)";
}

class ReuseKeyWithOtherBody implements fc.AsyncCommand<Model, Real> {
  check = (model: Readonly<Model>) => model.lastKey !== undefined;
  async run(model: Model, real: Real) {
    const last = model.lastKey as NonNullable<Model["lastKey"]>;
    const res = await send(real, last.from, last.to, last.amount + 1, last.key);
    expect(res.statusCode).toBe(422);
  }
  toString = () => "reuse-key(last, other body)";
}

it("agrees with the model over random sequences and keeps the ledger invariants", {
  timeout: 120_000,
}, async () => {
  const user = fc.integer({ min: 0, max: 2 });
  const commands = [
    fc.tuple(user, fc.integer({ min: 1, max: 500 })).map(([u, a]) => new Mint(u, a)),
    fc.tuple(user, user, fc.integer({ min: 1, max: 400 })).map(([f, to, a]) => new Transfer(f, to, a)),
    fc.constant(new Retry()),
    fc.constant(new ReuseKeyWithOtherBody()),
  ];
  await fc.assert(
    fc.asyncProperty(fc.commands(commands, { maxCommands: 12 }), async (cmds) => {
      const users = [await signUpAndLogin(t.app), await signUpAndLogin(t.app), await signUpAndLogin(t.app)];
      await fc.asyncModelRun(
        () => ({ model: { balances: [0, 0, 0], lastKey: undefined }, real: { users } }),
        cmds,
      );
    }),
    { numRuns: 12 },
  );
  const state = await ledgerInvariants(t.db.database);
  expect(state.negativeBalances).toBe(0);
  expect(state.usersWhoseBalanceIsNotTheirLedger).toBe(0);
  expect(state.unbalancedTransfers).toBe(0);
});
