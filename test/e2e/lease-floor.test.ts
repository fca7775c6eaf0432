import { describe, expect, it } from 'vitest';
import { systemFixture } from '../support/system-fixture.ts';
import { createConversation, postMessage, waitForTurn } from '../support/turns.ts';

// Fences come from a Redis counter, but Postgres holds the newest fence a turn claimed. The worker
// passes that fence as the counter's floor, so Redis losing the counter (a restart without
// persistence, a failover) cannot hand out a fence Postgres would refuse forever.
const sys = systemFixture({ workers: 1 });

async function fences(conv: string) {
  const [s] = await sys.tdb.sql<{ fence: string }[]>`
    select fence from sessions where conversation_id = ${conv} and status = 'active'`;
  const attempts = await sys.tdb.sql<{ fence: string }[]>`
    select fence from turn_attempts where conversation_id = ${conv} order by started_at`;
  return { session: Number(s!.fence), attempts: attempts.map((a) => Number(a.fence)) };
}

describe('the lease counter lost in Redis', () => {
  it('the next turn still finishes, with a fence above every fence Postgres has seen', async () => {
    const conv = await createConversation(sys);
    for (const text of ['one', 'two']) {
      expect((await waitForTurn(sys, conv, await postMessage(sys, conv, text))).user.status).toBe(
        'completed',
      );
    }
    const before = await fences(conv);
    expect(before.session).toBeGreaterThanOrEqual(2);

    const counter = `${sys.redisPrefix}:{conv:${conv}}:lease-counter`;
    expect(await sys.redis.del(counter)).toBe(1);

    const third = await postMessage(sys, conv, 'three');
    expect((await waitForTurn(sys, conv, third)).user.status).toBe('completed');
    const after = await fences(conv);
    expect(after.attempts.at(-1)).toBeGreaterThan(Math.max(...before.attempts));
    expect(after.session).toBeGreaterThan(before.session);
  });
});
