import { cancelFlagKey, enqueueTurn, TURNS_QUEUE, turnJobId } from '@turnstream/contracts';
import { insertUserMessage } from '@turnstream/db';
import { waitFor } from '@turnstream/testkit';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  EventStream,
  isTerminal,
  lastUserText,
  logOf,
  type ReceivedEvent,
  renderReply,
  simReplyTo,
  turnStreams,
} from '../support/stream-events.ts';
import { REDIS_URL } from '../support/system.ts';
import { systemFixture } from '../support/system-fixture.ts';
import { createConversation, history, postMessage, waitForTurn } from '../support/turns.ts';

// Issue 5: POST .../messages/:messageId/cancel, through the real API, worker, queue and simulator.
const sys = systemFixture();
let streams: ReturnType<typeof turnStreams>;
let bullRedis: Redis;
let queue: Queue;
beforeAll(async () => {
  streams = turnStreams(sys);
  bullRedis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  queue = new Queue(TURNS_QUEUE, { connection: bullRedis, prefix: sys.bullPrefix });
});
afterAll(async () => {
  await queue?.close();
  bullRedis?.disconnect();
});

const cancel = (conv: string, messageId: string) =>
  sys.api('POST', `/v1/conversations/${conv}/messages/${messageId}/cancel`);

async function attemptOutcomes(messageId: string): Promise<string[]> {
  const rows = await sys.tdb.sql<{ outcome: string }[]>`
    select outcome from turn_attempts where message_id = ${messageId} order by started_at`;
  return rows.map((r) => r.outcome);
}

describe('cancel', () => {
  it('during streaming: aborts the Claude request, keeps the partial as cancelled, and the conversation goes on', async () => {
    const conv = await createConversation(sys);
    const sse = await new EventStream(sys, conv).open(); // the whole conversation, live
    try {
      const content = '[[sim words=150 delay=30]] a long answer I will stop';
      const messageId = await postMessage(sys, conv, content);
      let chunks = 0;
      const events: ReceivedEvent[] = await sse.readUntil(
        (e) => e.data.messageId === messageId && e.type === 'chunk' && ++chunks >= 3,
      );

      const res = await cancel(conv, messageId);
      expect(res.status).toBe(202);
      expect(res.body).toEqual({ messageId, status: 'cancelling' });

      await sse.readUntil((e) => e.data.messageId === messageId && e.type === 'turn.cancelled', events);
      const cancelledAt = events.length - 1;
      const cancelled = events[cancelledAt]!;

      const { user, reply } = await waitForTurn(sys, conv, messageId);
      expect(user.status).toBe('cancelled');
      expect(reply).toMatchObject({ role: 'assistant', status: 'cancelled', replyTo: messageId });
      expect(cancelled.data.replyId).toBe(reply!.id);
      // The partial: non-empty, what was streamed before the cancel, a strict prefix of the full reply.
      const full = await simReplyTo(sys, content);
      expect(reply!.content.length).toBeGreaterThan(0);
      expect(reply!.content.length).toBeLessThan(full.length);
      expect(full.startsWith(reply!.content)).toBe(true);
      expect(renderReply(events.slice(0, cancelledAt), messageId)).toBe(reply!.content);
      expect(await attemptOutcomes(messageId)).toEqual(['cancelled']);

      // The Claude request was aborted, not read to its end.
      const request = await waitFor(
        async () =>
          (await sys.simRequests()).find(
            (r) => r.stream && lastUserText(r.body) === content && (r.closedEarly || r.status !== 0),
          ),
        { message: 'the simulator to log the streamed request as finished' },
      );
      expect(request).toMatchObject({ status: 200, closedEarly: true });

      // The next message is answered normally; nothing of the cancelled turn follows turn.cancelled.
      const next = await postMessage(sys, conv, 'and now a normal question');
      await sse.readUntil((e) => e.data.messageId === next && e.type === 'turn.completed', events);
      const after = events.slice(cancelledAt + 1);
      expect(after.filter((e) => e.data.messageId === messageId)).toEqual([]);
      expect(after.some((e) => e.type === 'chunk' && e.data.messageId === next)).toBe(true);
      const done = await waitForTurn(sys, conv, next);
      expect(done.user.status).toBe('completed');
      expect(done.reply).toMatchObject({ status: 'completed', content: events.at(-1)!.data.content });
      expect(done.reply!.content.length).toBeGreaterThan(0);
      // The durable log agrees: turn.cancelled is the cancelled turn's last event.
      const log = await logOf(streams, conv, messageId);
      expect(log.at(-1)).toEqual(cancelled);
      expect(log.filter((e) => e.type === 'turn.cancelled')).toHaveLength(1);
    } finally {
      sse.close();
    }
  });

  it('while queued: the job is removed, nothing ever runs, the next message is not held up', async () => {
    const conv = await createConversation(sys);
    const worker = sys.workers[0]!;
    const first = await postMessage(sys, conv, '[[sim words=60 delay=25]] first, and slow');
    await worker.waitForLog((l) => l.event === 'turn.stream_started' && l.messageId === first);
    const queuedText = 'second: queued behind the first, then cancelled';
    const queued = await postMessage(sys, conv, queuedText);
    // The per-conversation order gate sends the job back to the delayed set while the first runs.
    await worker.waitForLog((l) => l.event === 'turn.order_waiting' && l.messageId === queued);
    const jobId = turnJobId(queued);
    const delayedKey = `${sys.bullPrefix}:${TURNS_QUEUE}:delayed`;
    // Cancel while the job sits in the delayed set with time to spare (not in the instant a worker
    // holds it for its gate check, when the cancel would be the running-turn kind).
    await waitFor(
      async () => {
        const score = await sys.redis.zscore(delayedKey, jobId);
        return score !== null && Math.floor(Number(score) / 0x1000) - Date.now() > 100;
      },
      { intervalMs: 5, message: 'the queued job to be delayed by the order gate' },
    );
    const res = await cancel(conv, queued);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ messageId: queued, status: 'cancelled' });
    expect(await queue.getJob(jobId)).toBeUndefined();

    // A third message: it can only run once nothing before it is unfinished, and a queued job of the
    // cancelled message would run before it. So when it is done, the cancelled one never ran.
    const third = await postMessage(sys, conv, 'third: after the cancelled one');
    expect((await waitForTurn(sys, conv, first)).user.status).toBe('completed');
    expect((await waitForTurn(sys, conv, third)).user.status).toBe('completed');

    const msgs = await history(sys, conv);
    expect(msgs.find((m) => m.id === queued)?.status).toBe('cancelled');
    expect(msgs.filter((m) => m.replyTo === queued)).toEqual([]);
    expect(msgs.map((m) => [m.role, m.status])).toEqual([
      ['user', 'completed'],
      ['assistant', 'completed'],
      ['user', 'cancelled'],
      ['user', 'completed'],
      ['assistant', 'completed'],
    ]);
    const log = await logOf(streams, conv, queued);
    expect(log.map((e) => e.type)).toEqual(['turn.queued', 'turn.cancelled']);
    expect(log[1]!.data.replyId).toBeNull();
    expect(await attemptOutcomes(queued)).toEqual([]);
    expect(await queue.getJob(jobId)).toBeUndefined();
    const requests = await sys.simRequests();
    expect(requests.map((r) => lastUserText(r.body))).toContain('third: after the cancelled one');
    expect(requests.filter((r) => JSON.stringify(r.body ?? {}).includes(queuedText))).toEqual([]);
    expect(worker.lines.filter((l) => l.event === 'turn.stream_started' && l.messageId === queued)).toEqual(
      [],
    );
  });

  it('flagged before a worker takes the job: the flag read with the lease ends it, nothing reaches Claude', async () => {
    const conv = await createConversation(sys);
    const content = 'stored, flagged, then enqueued';
    const stored = await insertUserMessage(sys.tdb.db, {
      tenantId: sys.tenantId,
      conversationId: conv,
      content,
    });
    if (!stored.ok) throw new Error(stored.reason);
    const messageId = stored.message.id;
    // The cancel flag a TurnsClient or API cancel sets, there before the job is.
    await sys.redis.set(cancelFlagKey(sys.redisPrefix, conv, messageId), '1', 'EX', 60);
    await enqueueTurn(queue, { v: 1, tenantId: sys.tenantId, conversationId: conv, messageId });
    const { user, reply } = await waitForTurn(sys, conv, messageId);
    expect(user.status).toBe('cancelled');
    // Ended before its start: no reply row, no attempt, no Claude request.
    expect(reply).toBeUndefined();
    expect(await attemptOutcomes(messageId)).toEqual([]);
    const logged = await waitFor(async () => {
      const events = await logOf(streams, conv, messageId);
      return events.some(isTerminal) ? events : null;
    });
    expect(logged.map((e) => [e.type, e.data.replyId ?? null])).toEqual([['turn.cancelled', null]]);
    await sys.workers[0]!.waitForLog(
      (l) => l.event === 'turn.cancel_completed' && l.stage === 'before_start' && l.messageId === messageId,
    );
    const requests = await sys.simRequests();
    expect(requests.filter((r) => JSON.stringify(r.body ?? {}).includes(content))).toEqual([]);
    // The conversation goes on: the next message is answered.
    const next = await postMessage(sys, conv, 'after the flagged one');
    expect((await waitForTurn(sys, conv, next)).user.status).toBe('completed');
  });

  it('a cancel racing the start of the turn is never lost: every cancelled message ends cancelled', async () => {
    // Cancels sent right after posting land anywhere in the job's start: still waiting (removed:
    // 200), or taken by the worker before, during or after its cancel-flag check and its
    // registration as a running turn (202). A reply takes 5 s, so a turn that ends any other way
    // than cancelled within that time ignored the cancel.
    const runs = await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        const conv = await createConversation(sys);
        const messageId = await postMessage(sys, conv, `[[sim words=250 delay=20]] racing cancel ${i}`);
        for (let k = 0; k < i % 5; k++) await sys.api('GET', `/v1/conversations/${conv}`);
        const res = await cancel(conv, messageId);
        return { i, conv, messageId, res };
      }),
    );
    for (const { i, conv, messageId, res } of runs) {
      const label = `message ${i}: cancel answered ${res.status}`;
      expect([200, 202], label).toContain(res.status);
      expect(res.body, label).toEqual({ messageId, status: res.status === 200 ? 'cancelled' : 'cancelling' });
      const { user, reply } = await waitForTurn(sys, conv, messageId);
      expect(user.status, label).toBe('cancelled');
      if (res.status === 200) expect(reply, label).toBeUndefined();
      else if (reply) expect(reply.status, label).toBe('cancelled');
      // The terminal event is published right after the ending's commit: wait for it in the log.
      const logged = await waitFor(async () => {
        const events = await logOf(streams, conv, messageId);
        return events.some(isTerminal) ? events : null;
      });
      const types = logged.map((e) => e.type);
      expect(types.at(-1), label).toBe('turn.cancelled');
      expect(
        types.filter((t) => t === 'turn.cancelled' || t === 'turn.completed'),
        label,
      ).toEqual(['turn.cancelled']);
    }
  });

  it('a finished message cannot be cancelled: 409 message_not_cancellable, nothing changes', async () => {
    const conv = await createConversation(sys);
    const messageId = await postMessage(sys, conv, 'a quick one');
    const done = await waitForTurn(sys, conv, messageId);
    expect(done.user.status).toBe('completed');
    const res = await cancel(conv, messageId);
    expect(res.status).toBe(409);
    expect(res.body.error).toMatchObject({
      code: 'message_not_cancellable',
      details: { status: 'completed' },
    });
    const after = await waitForTurn(sys, conv, messageId);
    expect(after.user.status).toBe('completed');
    expect(after.reply).toMatchObject({ status: 'completed', content: done.reply!.content });
    const log = await logOf(streams, conv, messageId);
    expect(log.at(-1)?.type).toBe('turn.completed');
    expect(log.some((e) => e.type === 'turn.cancelled')).toBe(false);
  });
});
