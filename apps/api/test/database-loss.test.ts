import { createDb, type DbHandle } from '@turnstream/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDatabaseConnectionLoss } from '../src/errors.ts';
import { harnessFixture, tenantFixture } from './helpers.ts';

// A request whose database connection is lost mid-way answers 503 database_unavailable, changes nothing,
// and the next request works: a terminated backend is the database's fault, never the client's (no 500).
const h = harnessFixture();
const t = tenantFixture(h);
let adminDb: DbHandle;

beforeAll(async () => {
  adminDb = createDb({ url: h.tdb.url, max: 2 });
});
afterAll(async () => {
  await adminDb?.close();
});

/** The backend pid of the API's query that waits on a lock in this test's database. */
async function waitingBackend(): Promise<number> {
  for (;;) {
    const rows = await adminDb.sql<{ pid: number }[]>`
      select pid from pg_stat_activity
      where datname = ${h.tdb.name} and wait_event_type = 'Lock' and pid <> pg_backend_pid()`;
    if (rows[0]) return rows[0].pid;
    await new Promise((r) => setImmediate(r));
  }
}

describe('a lost database connection', () => {
  it('answers a reset cut off by a terminated backend with 503 database_unavailable and Retry-After; nothing changes', async () => {
    const created = await h.request('POST', '/v1/conversations', { key: t.keys.client, body: {} });
    const conv = created.body.id as string;
    const session = created.body.session.id as string;

    // Hold the conversation's row so the reset's transaction waits on it, then kill the reset's backend.
    let release!: () => void;
    const released = new Promise<void>((r) => {
      release = r;
    });
    let locked!: () => void;
    const holding = new Promise<void>((r) => {
      locked = r;
    });
    const holder = adminDb.sql.begin(async (tx) => {
      await tx`select id from conversations where id = ${conv} for update`;
      locked();
      await released;
    });
    await holding;
    const reset = h.request('POST', `/v1/conversations/${conv}/reset`, { key: t.keys.client });
    const pid = await waitingBackend();
    await adminDb.sql`select pg_terminate_backend(${pid})`;
    const res = await reset;
    release();
    await holder;

    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('database_unavailable');
    expect(res.headers['retry-after']).toBe('1');

    const sessions = await h.request('GET', `/v1/conversations/${conv}/sessions`, { key: t.keys.viewer });
    expect(sessions.body.sessions.map((s: { id: string; status: string }) => [s.id, s.status])).toEqual([
      [session, 'active'],
    ]);

    // The pool replaces the connection: the retried reset succeeds.
    const again = await h.request('POST', `/v1/conversations/${conv}/reset`, { key: t.keys.client });
    expect(again.status).toBe(200);
  });
});

describe('isDatabaseConnectionLoss', () => {
  it.each([
    [{ code: '57P01' }, true],
    [{ code: '08006' }, true],
    [{ code: 'CONNECTION_CLOSED' }, true],
    [{ message: 'Failed query', cause: { code: '57P01' } }, true],
    [{ code: '23505' }, false],
    [{ code: '55P03' }, false],
    [{ code: 'CONNECTION_ENDED' }, false],
    [new Error('boom'), false],
    [null, false],
  ])('%j -> %s', (err, expected) => {
    expect(isDatabaseConnectionLoss(err)).toBe(expected);
  });
});
