import { createTurnStreams } from '@turnstream/streams';
import { waitFor } from '@turnstream/testkit';
import { describe, expect, it } from 'vitest';
import { addFaults } from '../support/sim-faults.ts';
import { systemFixture } from '../support/system-fixture.ts';
import { createConversation, loggedTurn, postMessage, waitForTurn } from '../support/turns.ts';

// A 429 holds back the whole fleet: two worker processes, one turn at a time each.
const sys = systemFixture({ workers: 2, workerEnv: { WORKER_CONCURRENCY: '1' } });

// biome-ignore lint/suspicious/noExplicitAny: the simulator's request log, asserted field by field
type Req = any;

describe('fleet-wide rate limit', () => {
  it('after a 429 with retry-after: 3, no request reaches the simulator from either worker for 3 s', async () => {
    await addFaults(sys, [
      { fault: 'rate_limited', times: 1, retryAfterMs: 3000, match: { contains: 'limited' } },
    ]);
    const limitedConv = await createConversation(sys);
    const limited = await postMessage(sys, limitedConv, 'limited first');
    const hit: Req = await waitFor(
      async () => (await sys.simRequests()).find((r: Req) => r.status === 429 && r.endTime) ?? null,
      { message: 'the 429' },
    );
    // The turn announces the wait once the gate is closed (the provider closes it before the turn sees the error).
    const streams = createTurnStreams({ redis: sys.redis, keyPrefix: sys.redisPrefix });
    await waitFor(
      async () =>
        (await streams.read(limitedConv)).some(
          (e) => e.event.type === 'turn.rate_limited' && e.event.messageId === limited,
        ),
      { message: 'turn.rate_limited of the limited turn' },
    );

    // Turns posted during the wait: each takes about a second, so both workers (one turn each) run some.
    const others: Array<{ conv: string; id: string }> = [];
    for (let i = 0; i < 6; i++) {
      const conv = await createConversation(sys);
      others.push({ conv, id: await postMessage(sys, conv, `other ${i} [[sim words=40 delay=25]]`) });
    }
    for (const o of [{ conv: limitedConv, id: limited }, ...others]) {
      expect((await waitForTurn(sys, o.conv, o.id, 60_000)).user.status).toBe('completed');
    }

    const answeredAt = Date.parse(hit.endTime);
    const later = (await sys.simRequests()).filter((r: Req) => r.requestId !== hit.requestId);
    expect(later).toHaveLength(7);
    const early = later.filter((r: Req) => Date.parse(r.time) < answeredAt + 3000);
    expect(early.map((r: Req) => `${r.requestId} +${Date.parse(r.time) - answeredAt} ms`)).toEqual([]);

    // Both worker processes ran turns after the wait, so both were held back.
    const ids = others.map((o) => o.id);
    const workers = await sys.tdb.sql<{ worker_id: string }[]>`
      select distinct worker_id from turn_attempts where message_id = any(${ids}) and outcome = 'completed'`;
    expect(workers).toHaveLength(2);

    // The rate-limited turn kept its attempt: one attempt rate_limited, the answer still attempt 1.
    const attempts = await sys.tdb.sql<{ outcome: string; attempt: number }[]>`
      select outcome, attempt from turn_attempts where message_id = ${limited} order by started_at`;
    expect(attempts.map((a) => [a.outcome, a.attempt])).toEqual([
      ['rate_limited', 1],
      ['completed', 1],
    ]);
    // Clients saw the wait as its own event, with the time it ends.
    const events = await loggedTurn(sys, limitedConv, limited);
    const waits = events.flatMap((e) => (e.type === 'turn.rate_limited' ? [e] : []));
    expect(waits.length).toBeGreaterThan(0);
    for (const w of waits) expect(Date.parse(w.retryAt)).toBeGreaterThanOrEqual(answeredAt + 3000);
    expect(events.filter((e) => e.type === 'turn.failed')).toEqual([]);
  });
});
