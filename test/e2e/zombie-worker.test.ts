import { createTurnStreams } from '@turnstream/streams';
import { waitFor } from '@turnstream/testkit';
import { describe, expect, it } from 'vitest';
import { FAST_TAKEOVER_ENV } from '../support/system.ts';
import { systemFixture } from '../support/system-fixture.ts';
import { createConversation, loggedTurn, postMessage, session, waitForTurn } from '../support/turns.ts';

// A worker frozen (SIGSTOP) mid-turn past its lease and BullMQ lock; another finishes the turn;
// the first comes back (SIGCONT) and must write nothing.
const sys = systemFixture({ workers: 0, workerEnv: FAST_TAKEOVER_ENV });

describe('a zombie worker', () => {
  it('is fenced out: one reply, the winner session id, no stale chunk delivered', async () => {
    const conv = await createConversation(sys);
    const zombie = await sys.startWorker();
    // A slow reply so the turn is surely mid-stream when the worker freezes.
    const messageId = await postMessage(sys, conv, '[[sim words=80 delay=40]] tell me a long story');
    await zombie.waitForLog((l) => l.event === 'turn.stream_started' && l.messageId === messageId);
    const streams = createTurnStreams({ redis: sys.redis, keyPrefix: sys.redisPrefix });
    await waitFor(async () => (await streams.read(conv)).some((e) => e.event.type === 'chunk'));
    zombie.signal('SIGSTOP');

    const winner = await sys.startWorker();
    await winner.waitForLog((l) => l.event === 'turn.stream_completed' && l.messageId === messageId, 60_000);
    const done = await waitForTurn(sys, conv, messageId);
    const winnerSession = await session(sys, conv);
    const logBefore = await streams.read(conv);

    zombie.signal('SIGCONT');
    await zombie.waitForLog((l) => l.event === 'turn.fence_rejected' && l.messageId === messageId, 60_000);

    const replies = await sys.tdb.sql`select id, content, status from messages where reply_to = ${messageId}`;
    expect(replies).toHaveLength(1);
    expect(replies[0]).toMatchObject({ status: 'completed', content: done.reply!.content });
    expect((await session(sys, conv)).assistantSessionId).toBe(winnerSession.assistantSessionId);
    const attempts = await sys.tdb.sql<{ worker_id: string; outcome: string; fence: number }[]>`
      select worker_id, outcome, fence from turn_attempts where message_id = ${messageId} order by started_at`;
    expect(attempts.map((a) => [a.worker_id, a.outcome])).toEqual([
      ['w1', 'superseded'],
      ['w2', 'completed'],
    ]);
    expect(Number(attempts[1]!.fence)).toBeGreaterThan(Number(attempts[0]!.fence));

    // Nothing the zombie published after it came back reached the log (and so no subscriber).
    const logAfter = await streams.read(conv);
    expect(logAfter.map((e) => e.id)).toEqual(logBefore.map((e) => e.id));
    const events = logAfter.filter((e) => e.event.messageId === messageId).map((e) => e.event);
    expect(events.at(-1)?.type).toBe('turn.completed');
    // What a client renders: the chunks after the last reset equal the stored reply.
    const lastReset = events.map((e) => e.type).lastIndexOf('turn.reset');
    const text = events
      .slice(lastReset + 1)
      .filter((e) => e.type === 'chunk')
      .map((e) => (e as { text: string }).text)
      .join('');
    expect(text).toBe(done.reply!.content);
  });

  it('a worker killed mid-turn (SIGKILL) loses nothing: another worker takes the turn over and answers once', async () => {
    // Only the worker about to be killed runs.
    await Promise.all(sys.workers.map((w) => w.stop()));
    const conv = await createConversation(sys);
    const doomed = await sys.startWorker();
    const messageId = await postMessage(sys, conv, '[[sim words=80 delay=30]] a story cut short');
    await doomed.waitForLog((l) => l.event === 'turn.stream_started' && l.messageId === messageId);
    const log = createTurnStreams({ redis: sys.redis, keyPrefix: sys.redisPrefix });
    await waitFor(async () => (await log.read(conv)).some((e) => e.event.type === 'chunk'));
    doomed.signal('SIGKILL');
    await doomed.exited;

    const heir = await sys.startWorker();
    const done = await waitForTurn(sys, conv, messageId, 60_000);
    expect(done.user.status).toBe('completed');
    const replies = await sys.tdb.sql`select status from messages where reply_to = ${messageId}`;
    expect(replies).toEqual([{ status: 'completed' }]);
    const attempts = await sys.tdb.sql<{ worker_id: string; outcome: string | null }[]>`
      select worker_id, outcome from turn_attempts where message_id = ${messageId} order by started_at`;
    expect(attempts.map((a) => [a.worker_id, a.outcome])).toEqual([
      [doomed.name, 'lost'],
      [heir.name, 'completed'],
    ]);
    // Subscribers were told to drop the dead attempt's chunks before the new ones.
    const types = (await loggedTurn(sys, conv, messageId)).map((e) => e.type);
    expect(types.lastIndexOf('turn.reset')).toBeGreaterThan(types.indexOf('chunk'));
    expect(types.at(-1)).toBe('turn.completed');
  });
});
