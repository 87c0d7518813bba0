import { randomUUID } from "node:crypto";
import { count } from "drizzle-orm";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, expect, it } from "vitest";
import { transfers } from "../../src/platform/database/schema.js";
import { bearer, login, type Session, signUpAndLogin } from "../helpers/auth.js";
import { ledgerInvariants } from "../helpers/ledger.js";
import { createSecondInstance, createTestApp, type TestApp } from "../helpers/test-app.js";

// The bank test: 8 accounts × 1,000, many parallel clients moving credits between random
// pairs through two API instances on one database, with client retries of the same key.
const ACCOUNTS = 8;
const OPENING = 1_000;
const CLIENTS = 16;
const OPERATIONS_PER_CLIENT = 12;

let t: TestApp;
let second: FastifyInstance;
let accounts: Session[];

beforeAll(async () => {
  t = await createTestApp({ ADMIN_EMAIL: "bank@example.com", ADMIN_PASSWORD: "AdminPass-123456" });
  second = await createSecondInstance(t);
  const admin = (await login(t.app, "bank@example.com", "AdminPass-123456")).json().access_token;
  accounts = [];
  for (let i = 0; i < ACCOUNTS; i++) {
    const s = await signUpAndLogin(t.app);
    await t.app.inject({
      method: "POST",
      url: "/api/v1/admin/credits",
      headers: bearer(admin),
      payload: { user_id: s.id, amount: OPENING },
    });
    accounts.push(s);
  }
}, 120_000);
afterAll(async () => {
  await second.close();
  await t.close();
});

const pick = <T>(items: T[]) => items[Math.floor(Math.random() * items.length)] as T;

it("conserves the total, never goes negative, and makes one movement per key", {
  timeout: 120_000,
}, async () => {
  const outcomes = new Map<string, Set<number>>(); // key → transfer ids acknowledged for it
  const statuses: number[] = [];

  async function client(clientIndex: number) {
    for (let op = 0; op < OPERATIONS_PER_CLIENT; op++) {
      const from = pick(accounts);
      let to = pick(accounts);
      while (to === from) to = pick(accounts);
      const key = randomUUID();
      const body = { to_user_id: to.id, amount: 1 + Math.floor(Math.random() * 300) };
      // A third of the requests are sent twice, as a client would after a timeout.
      const attempts = op % 3 === 0 ? 2 : 1;
      for (let attempt = 0; attempt < attempts; attempt++) {
        const instance = (clientIndex + attempt) % 2 === 0 ? t.app : second;
        const res = await instance.inject({
          method: "POST",
          url: "/api/v1/transfers",
          headers: { ...bearer(from.access), "idempotency-key": key },
          payload: body,
        });
        statuses.push(res.statusCode);
        if (res.statusCode === 201) {
          const ids = outcomes.get(key) ?? new Set<number>();
          ids.add(res.json().id);
          outcomes.set(key, ids);
        }
      }
    }
  }

  await Promise.all(Array.from({ length: CLIENTS }, (_, i) => client(i)));

  expect(statuses.filter((s) => s >= 500)).toEqual([]);
  expect(statuses.every((s) => [201, 400, 409].includes(s))).toBe(true);
  expect(statuses.filter((s) => s === 201).length).toBeGreaterThan(0);
  for (const ids of outcomes.values()) expect(ids.size).toBe(1);
  const [{ n } = { n: -1 }] = await t.db.database.db.select({ n: count() }).from(transfers);
  expect(n).toBe(outcomes.size);

  const state = await ledgerInvariants(t.db.database);
  expect(state).toEqual({
    balancesTotal: ACCOUNTS * OPENING,
    ledgerTotal: ACCOUNTS * OPENING,
    negativeBalances: 0,
    usersWhoseBalanceIsNotTheirLedger: 0,
    unbalancedTransfers: 0,
  });
});
