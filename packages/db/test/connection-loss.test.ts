// A database connection killed under the application (a failover, an operator's
// pg_terminate_backend, a proxy dropping idle sockets) must cost only the statements that were on it:
// each settles as a rejection the caller can handle, the process keeps running, and the pool serves
// the next query. postgres.js 3.4.9 needs the patch in patches/ for this (an uncaught TypeError from
// a write on the closed socket, a transaction that never settles); this file fails without it.
import { waitFor } from '@turnstream/testkit';
import { sql as dsql } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createDb, type DbHandle } from '../src/client.ts';
import { createTestDatabase, type TestDatabase } from '../src/testing/index.ts';

const APP = 'turnstream-conn-loss';

let tdb: TestDatabase;
let pool: DbHandle;
let admin: postgres.Sql;
const uncaught: unknown[] = [];
const onUncaught = (err: unknown) => uncaught.push(err);

beforeAll(async () => {
  tdb = await createTestDatabase({ max: 1 });
  admin = postgres(tdb.url, { max: 2, onnotice: () => {} });
  process.on('uncaughtException', onUncaught);
});
afterAll(async () => {
  process.off('uncaughtException', onUncaught);
  await admin?.end({ timeout: 5 });
  await tdb?.drop();
});
beforeEach(() => {
  uncaught.length = 0;
  pool = createDb({ url: tdb.url, max: 10, applicationName: APP });
});
afterEach(async () => {
  await pool.close();
});

/** Backends of the pool under test running `pg_sleep` (the statement being killed). */
async function sleepingBackends(): Promise<number[]> {
  const rows = await admin<{ pid: number }[]>`
    select pid from pg_stat_activity
    where datname = current_database() and application_name = ${APP}
      and state = 'active' and query like '%pg_sleep%'`;
  return rows.map((r) => r.pid);
}

async function terminate(pids: number[]): Promise<void> {
  await admin`select pg_terminate_backend(pid) from unnest(${pids}::int[]) as pid`;
}

/**
 * How long a killed connection may take to come back: postgres.js delays a reconnect by its backoff,
 * `(0.5..1) * min(3 ** retries / 100, 20)` seconds, `retries` counting the pool's closes that came
 * with a socket error since its last successful connect (on a loaded machine, writes racing the
 * server's close end in ECONNRESET). That wait is postgres.js's design, not a fault under test.
 */
const RECONNECT_ALLOWANCE_MS = 45_000;

/** The pool answers a query again (on a reconnected connection). */
async function poolServes(): Promise<void> {
  const rows = await pool.db.execute<{ one: number }>(dsql`select 1 as one`);
  expect(rows[0]?.one).toBe(1);
}

async function settle<T>(p: Promise<T>): Promise<PromiseSettledResult<T>> {
  return p.then(
    (value) => ({ status: 'fulfilled', value }) as const,
    (reason: unknown) => ({ status: 'rejected', reason }) as const,
  );
}

describe('a backend killed under the pool', () => {
  it('rejects a drizzle transaction killed mid-statement, round after round, and the pool recovers', async () => {
    for (let round = 0; round < 8; round++) {
      let pid = 0;
      const tx = settle(
        pool.db.transaction(async (t) => {
          const rows = await t.execute<{ pid: number }>(dsql`select pg_backend_pid() as pid`);
          pid = Number(rows[0]?.pid);
          await t.execute(dsql`insert into tenants (name) values (${`killed-${round}`})`);
          await t.execute(dsql`select pg_sleep(60)`);
        }),
      );
      await waitFor(async () => pid !== 0 && (await sleepingBackends()).includes(pid), {
        message: `round ${round}: the transaction's pg_sleep is running`,
      });
      await terminate([pid]);
      const outcome = await tx;
      expect(outcome.status, `round ${round}`).toBe('rejected');
      if (outcome.status === 'rejected') expect(outcome.reason).toBeInstanceOf(Error);
      await poolServes();
    }
    const kept = await pool.db.execute(dsql`select 1 from tenants where name like 'killed-%'`);
    expect(kept.length).toBe(0);
    expect(uncaught).toEqual([]);
  });

  it('rejects a transaction whose backend died while it was idle in the transaction', async () => {
    for (let round = 0; round < 4; round++) {
      let pid = 0;
      let proceed!: () => void;
      const gate = new Promise<void>((r) => {
        proceed = r;
      });
      const tx = settle(
        pool.db.transaction(async (t) => {
          const rows = await t.execute<{ pid: number }>(dsql`select pg_backend_pid() as pid`);
          pid = Number(rows[0]?.pid);
          await gate;
          await t.execute(dsql`select 1`);
        }),
      );
      await waitFor(() => pid !== 0, { message: `round ${round}: the transaction started` });
      await terminate([pid]);
      await waitFor(async () => {
        const rows = await admin`select 1 from pg_stat_activity where pid = ${pid}`;
        return rows.length === 0;
      });
      proceed();
      const outcome = await tx;
      expect(outcome.status, `round ${round}`).toBe('rejected');
      await poolServes();
    }
    expect(uncaught).toEqual([]);
  });

  it('rejects 40 in-flight pool queries when every backend is killed, and serves afterwards', async () => {
    // Open all ten connections first, so the 40 queries are all sent (pipelined, four a connection).
    await Promise.all(Array.from({ length: 10 }, () => pool.sql`select pg_sleep(0.05)`));
    let settledCount = 0;
    const queries = Array.from({ length: 40 }, () =>
      settle(pool.db.execute(dsql`select pg_sleep(60)`)).finally(() => {
        settledCount++;
      }),
    );
    // Kill whatever runs them until every one has settled (a query the pool had not sent yet runs on
    // a reconnected connection and is killed in a later round).
    while (settledCount < queries.length) {
      const before = settledCount;
      // The queries still unsettled when the loop came round may settle meanwhile (a connection's
      // close settles all of its pipelined queries): then there is nothing left to kill.
      const pids = await waitFor(
        async () => {
          if (settledCount === queries.length) return [];
          const running = await sleepingBackends();
          return running.length > 0 ? running : undefined;
        },
        {
          message: `a connection running one of the ${queries.length - before} unsettled queries`,
          timeoutMs: RECONNECT_ALLOWANCE_MS,
        },
      );
      if (pids.length === 0) break;
      await terminate(pids);
      await waitFor(() => settledCount > before, { message: 'a killed query settled' });
    }
    const outcomes = await Promise.all(queries);
    const rejected = outcomes.filter((o) => o.status === 'rejected');
    expect(rejected.length).toBe(40);
    for (const o of rejected) expect(o.reason).toBeInstanceOf(Error);
    await poolServes();
    await Promise.all(Array.from({ length: 20 }, () => poolServes()));
    expect(uncaught).toEqual([]);
  });
});
