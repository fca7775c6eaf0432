import { waitFor } from '@turnstream/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { EventStream, isTerminal, logOf, renderReply, turnStreams } from '../support/stream-events.ts';
import { systemFixture } from '../support/system-fixture.ts';
import { createConversation, postMessage, waitForTurn } from '../support/turns.ts';

// Issue 5, cancel meets live persistence: a cancelled turn ends in one transaction (user message
// cancelled, the partial stored as the cancelled reply, the attempt closed), then publishes
// `turn.cancelled`. A live-persist write of the partial that comes due while the ending is being
// recorded must change nothing of it: no half-written ending is ever visible, the stored reply is the
// whole partial, and the write is not taken for a fence loss (which drops `turn.cancelled`, leaves every
// `?until=turn` client hanging and records the attempt as superseded).
//
// A row lock makes the interleaving certain: the test holds the user message row, so the worker's ending
// transaction waits on it; the (single, slow) live-persist write comes due and runs; then the test lets go.
// One live-persist write per reply, due 1.5 s after its first chunk.
// (No reconciler: its queries would look like the live-persist write.)
const sys = systemFixture({
  workerEnv: { LIVE_PERSIST_INTERVAL_MS: '1500', RECONCILE_INTERVAL_MS: '0' },
});
let streams: ReturnType<typeof turnStreams>;
beforeAll(async () => {
  streams = turnStreams(sys);
});

/** The backend of this test's database waiting on a lock in a statement starting with `prefix`, if any. */
async function blockedOn(prefix: string): Promise<{ pid: number; query_start: Date } | undefined> {
  const rows = await sys.tdb.sql<{ pid: number; query_start: Date }[]>`
    select pid, query_start from pg_stat_activity
    where datname = current_database() and wait_event_type = 'Lock' and query ilike ${`${prefix}%`}`;
  return rows[0];
}

/**
 * Whether a worker connection other than the one blocked in `blocked` (a pg_stat_activity row) has
 * since run a statement on messages and finished it: the live-persist write (and whatever it does
 * when the write finds nothing to update).
 */
async function messagesTouchedSince(blocked: { pid: number; query_start: Date }): Promise<boolean> {
  const rows = await sys.tdb.sql<{ n: number }[]>`
    select count(*)::int as n from pg_stat_activity
    where datname = current_database() and application_name = 'turnstream-worker' and pid <> ${blocked.pid}
      and state = 'idle' and state_change > ${blocked.query_start} and query ilike '%"messages"%'`;
  return rows[0]!.n > 0;
}

/** Lock a messages row (as an UPDATE would) in a transaction held until `release()`. */
async function holdRow(id: string): Promise<{ release: () => Promise<void> }> {
  let release!: () => void;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  let locked!: () => void;
  const isLocked = new Promise<void>((resolve) => {
    locked = resolve;
  });
  const tx = sys.tdb.sql.begin(async (sql) => {
    await sql`select id from messages where id = ${id} for no key update`;
    locked();
    await released;
  });
  await Promise.race([isLocked, tx]);
  return {
    release: async () => {
      release();
      await tx;
    },
  };
}

describe('cancel racing a live-persist write', () => {
  it('a partial write that comes due while the cancel is being recorded changes nothing: turn.cancelled is published', async () => {
    const conv = await createConversation(sys);
    const sse = await new EventStream(sys, conv, { untilTurn: true }).open();
    let userRow: { release: () => Promise<void> } | undefined;
    try {
      const messageId = await postMessage(sys, conv, '[[sim words=100 delay=30]] stop me while I hold on');
      const events = await sse.readUntil((e) => e.type === 'chunk');

      userRow = await holdRow(messageId);
      const res = await sys.api('POST', `/v1/conversations/${conv}/messages/${messageId}/cancel`);
      expect(res.status).toBe(202);
      // The worker's ending transaction waits for the user message row: nothing of it is visible yet...
      const blocked = await waitFor(() => blockedOn('update "messages" set "status"'), {
        message: 'the worker to wait for the user message row',
      });
      const [replyRow] = await sys.tdb.sql<{ id: string; status: string }[]>`
        select id, status from messages where reply_to = ${messageId}`;
      expect(replyRow?.status).toBe('streaming');
      // ...and the live-persist write of the partial comes due meanwhile.
      await waitFor(() => messagesTouchedSince(blocked), {
        timeoutMs: 10_000,
        message: 'the live-persist write to run',
      });
      await userRow.release();

      await sse.readUntil(isTerminal, events);
      const cancelled = events.at(-1)!;
      expect(cancelled.type).toBe('turn.cancelled');
      expect(cancelled.data.replyId).toBe(replyRow!.id);
      const { user, reply } = await waitForTurn(sys, conv, messageId);
      expect(user.status).toBe('cancelled');
      expect(reply).toMatchObject({ id: replyRow!.id, status: 'cancelled' });
      expect(reply!.content.length).toBeGreaterThan(0);
      expect(renderReply(events, messageId)).toBe(reply!.content);
      expect((await logOf(streams, conv, messageId)).at(-1)).toEqual(cancelled);
      await sys.workers[0]!.waitForLog(
        (l) => l.event === 'turn.cancel_completed' && l.messageId === messageId,
      );
      const attempts = await sys.tdb.sql<{ outcome: string }[]>`
        select outcome from turn_attempts where message_id = ${messageId}`;
      expect(attempts.map((a) => a.outcome)).toEqual(['cancelled']);
    } finally {
      await userRow?.release().catch(() => undefined);
      sse.close();
    }
  });
});
