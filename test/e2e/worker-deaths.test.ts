import { duplicateRedis } from '@turnstream/config';
import { isTerminalEvent, TURNS_QUEUE, turnJobId } from '@turnstream/contracts';
import { createTurnStreams } from '@turnstream/streams';
import { type ManagedProcess, waitFor } from '@turnstream/testkit';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAST_TAKEOVER_ENV } from '../support/system.ts';
import { systemFixture } from '../support/system-fixture.ts';
import { createConversation, loggedTurn, postMessage, waitForTurn } from '../support/turns.ts';

// Deaths and stalls are the fleet's problem, not the turn's (docs/reliability.md): a worker killed in
// the middle of a turn, twice, costs no retry attempt and no reply. Only the stall budget, far larger
// than any fleet's bad luck, ends a message that kills every worker taking it.
const sys = systemFixture({ workers: 0, workerEnv: FAST_TAKEOVER_ENV });
let queue: Queue;
beforeAll(async () => {
  queue = new Queue(TURNS_QUEUE, {
    connection: duplicateRedis(sys.redis, { maxRetriesPerRequest: null }),
    prefix: sys.bullPrefix,
  });
});
afterAll(async () => {
  await queue?.close();
});

/** Start a worker, let it stream part of the message's reply, then SIGKILL it. */
async function killMidStream(conv: string, messageId: string, env: Record<string, string> = {}) {
  const w = await sys.startWorker(env);
  await w.waitForLog((l) => l.event === 'turn.stream_started' && l.messageId === messageId, 60_000);
  // A chunk of this worker's attempt reached the log (after the attempt's turn.started).
  const log = createTurnStreams({ redis: sys.redis, keyPrefix: sys.redisPrefix });
  await waitFor(async () => {
    const events = (await log.read(conv)).map((e) => e.event).filter((e) => e.messageId === messageId);
    const started = events.map((e) => e.type).lastIndexOf('turn.started');
    return events.slice(started + 1).some((e) => e.type === 'chunk');
  });
  w.signal('SIGKILL');
  await w.exited;
  return w;
}

async function attemptsOf(messageId: string) {
  return sys.tdb.sql<{ worker_id: string; outcome: string | null; attempt: number }[]>`
    select worker_id, outcome, attempt from turn_attempts where message_id = ${messageId} order by started_at`;
}

describe('worker deaths during a turn', () => {
  it('a worker killed twice during one turn: the turn is still answered, once, with no internal error', async () => {
    const conv = await createConversation(sys);
    const messageId = await postMessage(sys, conv, '[[sim words=80 delay=30]] a story told three times');
    const first = await killMidStream(conv, messageId);
    const second = await killMidStream(conv, messageId);
    const heir = await sys.startWorker();

    const done = await waitForTurn(sys, conv, messageId, 60_000);
    expect(done.user.status).toBe('completed');
    const replies = await sys.tdb.sql<{ role: string; status: string; error_code: string | null }[]>`
      select role, status, error_code from messages where reply_to = ${messageId}`;
    expect(replies).toEqual([{ role: 'assistant', status: 'completed', error_code: null }]);
    // Stalls consume no retry attempt: all three ran as attempt 1.
    const attempts = await attemptsOf(messageId);
    expect(attempts.map((a) => [a.worker_id, a.outcome, a.attempt])).toEqual([
      [first.name, 'lost', 1],
      [second.name, 'lost', 1],
      [heir.name, 'completed', 1],
    ]);
    const types = (await loggedTurn(sys, conv, messageId)).map((e) => e.type);
    expect(types).not.toContain('turn.failed');
    expect(types.at(-1)).toBe('turn.completed');
    await heir.stop();
  });

  it('past the stall budget a message fails readably as stall_exhausted (a poison message ends)', async () => {
    const conv = await createConversation(sys);
    const budget = { STALL_BUDGET: '1' };
    const messageId = await postMessage(sys, conv, '[[sim words=80 delay=30]] a story that kills workers');
    await killMidStream(conv, messageId, budget);
    await killMidStream(conv, messageId, budget);
    const heir: ManagedProcess = await sys.startWorker(budget);

    const done = await waitForTurn(sys, conv, messageId, 60_000);
    expect(done.user.status).toBe('failed');
    expect(done.reply).toMatchObject({ role: 'error', status: 'failed', errorCode: 'stall_exhausted' });
    expect(done.reply!.content).toMatch(/could not answer/);
    const events = await loggedTurn(sys, conv, messageId);
    expect(events.at(-1)).toMatchObject({ type: 'turn.failed', code: 'stall_exhausted' });
    await heir.stop();
  });

  it('a worker that died after the ending committed, before the end reached the log: the next run of the job publishes it, once', async () => {
    const worker = await sys.startWorker();
    const conv = await createConversation(sys);
    const messageId = await postMessage(sys, conv, 'an end lost with its worker');
    const done = await waitForTurn(sys, conv, messageId, 60_000);
    expect(done.user.status).toBe('completed');
    const streams = createTurnStreams({ redis: sys.redis, keyPrefix: sys.redisPrefix });
    const keys = streams.keys(conv);
    const ends = async () =>
      (await streams.read(conv)).filter((d) => d.event.messageId === messageId && isTerminalEvent(d.event));
    const [published] = await waitFor(async () => ((await ends()).length > 0 ? ends() : null));
    // What the log holds when the worker dies between the commit and the publish: no end for the turn.
    await sys.redis.xdel(keys.log, published!.id);
    await sys.redis.hdel(keys.ends, messageId);
    // The job runs again, as it does when another worker takes a dead worker's job over.
    const job = await queue.getJob(turnJobId(messageId));
    await waitFor(async () => (await job!.getState()) === 'completed');
    await job!.retry('completed');
    const repaired = await waitFor(async () => ((await ends()).length > 0 ? ends() : null), {
      message: 'the end of the turn published again',
    });
    expect(repaired.map((d) => d.event)).toEqual([
      {
        type: 'turn.completed',
        messageId,
        replyId: done.reply!.id,
        content: done.reply!.content,
        stopReason: 'end_turn',
      },
    ]);
    // Once: a further run (or the first worker's late publish) appends no second end.
    await waitFor(async () => (await job!.getState()) === 'completed');
    await job!.retry('completed');
    await waitFor(async () => (await job!.getState()) === 'completed');
    expect((await ends()).map((d) => d.id)).toEqual(repaired.map((d) => d.id));
    await worker.stop();
  });
});
