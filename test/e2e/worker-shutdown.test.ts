import { describe, expect, it } from 'vitest';
import { systemFixture } from '../support/system-fixture.ts';
import { createConversation, postMessage, waitForTurn } from '../support/turns.ts';

// SIGTERM: no new jobs; running streams get a grace period, then are interrupted and handed back.
const sys = systemFixture({ workers: 0 });

async function attempts(messageId: string) {
  return sys.tdb.sql<{ worker_id: string; outcome: string }[]>`
    select worker_id, outcome from turn_attempts where message_id = ${messageId} order by started_at`;
}

describe('worker shutdown', () => {
  it('lets a running turn finish within the grace period', async () => {
    const conv = await createConversation(sys);
    const w = await sys.startWorker({ SHUTDOWN_GRACE_MS: '30000' });
    const id = await postMessage(sys, conv, '[[sim words=30 delay=20]] a short story');
    await w.waitForLog((l) => l.event === 'turn.stream_started' && l.messageId === id);
    w.signal('SIGTERM');
    expect((await w.exited).code).toBe(0);
    const t = await waitForTurn(sys, conv, id);
    expect(t.user.status).toBe('completed');
    expect((await attempts(id)).map((a) => [a.worker_id, a.outcome])).toEqual([[w.name, 'completed']]);
  });

  it('interrupts a turn past the grace period and hands the job to another worker', async () => {
    const conv = await createConversation(sys);
    const w = await sys.startWorker({ SHUTDOWN_GRACE_MS: '200' });
    const id = await postMessage(sys, conv, '[[sim words=200 delay=20]] a very long story');
    await w.waitForLog((l) => l.event === 'turn.stream_started' && l.messageId === id);
    w.signal('SIGTERM');
    await w.waitForEvent('turn.handback_completed');
    expect((await w.exited).code).toBe(0);
    const [partial] = await sys.tdb.sql`select status from messages where reply_to = ${id}`;
    expect(partial!.status).toBe('interrupted');

    const next = await sys.startWorker();
    const t = await waitForTurn(sys, conv, id, 60_000);
    expect(t.user.status).toBe('completed');
    expect(t.reply!.status).toBe('completed');
    expect((await attempts(id)).map((a) => [a.worker_id, a.outcome])).toEqual([
      [w.name, 'interrupted'],
      [next.name, 'completed'],
    ]);
  });
});
