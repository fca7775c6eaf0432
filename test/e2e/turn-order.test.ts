import { describe, expect, it } from 'vitest';
import { addFaults } from '../support/sim-faults.ts';
import { systemFixture } from '../support/system-fixture.ts';
import { createConversation, postMessage, waitForTurn } from '../support/turns.ts';

// A message queued behind a running turn of its conversation waits (delayed, no attempt consumed) and is
// woken as soon as that turn ends, however it ends. Waits and retry backoffs here are a minute or more:
// only the wake-up lets the next message finish within the test's time.
const sys = systemFixture({ workerEnv: { ORDER_WAIT_MS: '60000', RETRY_BACKOFF_SCALE: '30' } });

describe('per-conversation order', () => {
  it('wakes the next message when the running turn ends', async () => {
    const conv = await createConversation(sys);
    const first = await postMessage(sys, conv, '[[sim words=20 delay=20]] first');
    await sys.workers[0]!.waitForLog((l) => l.event === 'turn.stream_started' && l.messageId === first);
    const second = await postMessage(sys, conv, 'second');
    await sys.workers[0]!.waitForLog((l) => l.event === 'turn.order_waiting' && l.messageId === second);
    expect((await waitForTurn(sys, conv, first)).user.status).toBe('completed');
    expect((await waitForTurn(sys, conv, second, 20_000)).user.status).toBe('completed');
    const [row] = await sys.tdb.sql<{ n: number }[]>`
      select count(*)::int as n from turn_attempts where message_id = ${second}`;
    expect(row!.n).toBe(1);
  });

  it('wakes the next message when the blocking one is cancelled while it waits for a retry', async () => {
    await addFaults(sys, [{ fault: 'overloaded', times: 1, match: { contains: 'unlucky' } }]);
    const conv = await createConversation(sys);
    const first = await postMessage(sys, conv, 'unlucky first');
    // Its first attempt failed; the job now waits out a backoff of about a minute.
    await sys.workers[0]!.waitForLog((l) => l.event === 'turn.job_failed' && l.jobId === `turn-${first}`);
    const second = await postMessage(sys, conv, 'second behind it');
    await sys.workers[0]!.waitForLog((l) => l.event === 'turn.order_waiting' && l.messageId === second);
    const cancelled = await sys.api('POST', `/v1/conversations/${conv}/messages/${first}/cancel`);
    expect(cancelled.body.status).toBe('cancelled');
    expect((await waitForTurn(sys, conv, second, 20_000)).user.status).toBe('completed');
  });
});
