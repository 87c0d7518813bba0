import { sql } from "drizzle-orm";
import type { Database } from "../../src/platform/database/index.js";

/** The ledger invariants every transfer test ends with. */
export async function ledgerInvariants(database: Database) {
  const rows = async <T>(query: ReturnType<typeof sql>) =>
    ((await database.db.execute(query)) as unknown as { rows: T[] }).rows;
  const [totals] = await rows<{
    balances: string | number;
    ledger: string | number;
    negatives: string | number;
  }>(sql`
    select (select coalesce(sum(balance), 0) from users) as balances,
           (select coalesce(sum(amount), 0) from ledger_entries) as ledger,
           (select count(*) from users where balance < 0) as negatives`);
  const mismatched = await rows<{ id: number }>(sql`
    select u.id from users u left join ledger_entries l on l.user_id = u.id
    group by u.id, u.balance having u.balance <> coalesce(sum(l.amount), 0)`);
  const unbalancedTransfers = await rows<{ transfer_id: number }>(sql`
    select transfer_id from ledger_entries where transfer_id is not null
    group by transfer_id having sum(amount) <> 0 or count(*) <> 2`);
  return {
    balancesTotal: Number(totals?.balances),
    ledgerTotal: Number(totals?.ledger),
    negativeBalances: Number(totals?.negatives),
    usersWhoseBalanceIsNotTheirLedger: mismatched.length,
    unbalancedTransfers: unbalancedTransfers.length,
  };
}
