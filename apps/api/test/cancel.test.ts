import { randomUUID } from 'node:crypto';
import {
  CANCEL_FLAG_TTL_SECONDS,
  cancelChannel,
  cancelFlagKey,
  TURNS_QUEUE,
  turnJobId,
} from '@turnstream/contracts';
import { endReply, getMessage, getReply, setUserMessageStatus } from '@turnstream/db';
import { seedReply } from '@turnstream/db/testing';
import { SseReader, waitFor } from '@turnstream/testkit';
import { type Job, Worker } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { harnessFixture, REDIS_URL, tenantFixture } from './helpers.ts';

const h = harnessFixture();
const t = tenantFixture(h);

async function newConversation(): Promise<string> {
  return (await h.request('POST', '/v1/conversations', { key: t.keys.client, body: {} })).body.id;
}

async function postMessage(conv: string, content = 'please stop me'): Promise<string> {
  const res = await h.request('POST', `/v1/conversations/${conv}/messages`, {
    key: t.keys.client,
    body: { content },
  });
  expect(res.status).toBe(202);
  return res.body.messageId;
}

function cancel(conv: string, messageId: string, key = t.keys.client) {
  return h.request('POST', `/v1/conversations/${conv}/messages/${messageId}/cancel`, { key });
}

/** Collects messages published on the cancel channel. */
async function listenForCancels(): Promise<{ received: unknown[] }> {
  const sub = h.connection();
  const received: unknown[] = [];
  sub.on('message', (_channel: string, raw: string) => received.push(JSON.parse(raw)));
  await sub.subscribe(cancelChannel(h.redisPrefix));
  return { received };
}

describe('POST /v1/conversations/:id/messages/:messageId/cancel', () => {
  it('cancels a queued message: job removed, message cancelled, turn.cancelled published, flag set and signalled', async () => {
    const conv = await newConversation();
    const messageId = await postMessage(conv);
    expect(await h.queue.getJob(turnJobId(messageId))).toBeDefined();
    const listener = await listenForCancels();

    const base = await h.listen();
    const sse = new SseReader(`${base}/v1/conversations/${conv}/events?messageId=${messageId}&until=turn`, {
      headers: { authorization: `Bearer ${t.keys.viewer}` },
    });
    await sse.open();

    const res = await cancel(conv, messageId);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ messageId, status: 'cancelled' });

    expect(await h.queue.getJob(turnJobId(messageId))).toBeUndefined();
    expect((await getMessage(h.tdb.db, t.tenantId, messageId))!.status).toBe('cancelled');
    const events = (await h.streams.read(conv)).map((e) => e.event);
    expect(events).toEqual([
      { type: 'turn.queued', messageId },
      { type: 'turn.cancelled', messageId, replyId: null },
    ]);
    const flagKey = cancelFlagKey(h.redisPrefix, conv, messageId);
    expect(await h.redis.get(flagKey)).toBe('1');
    const ttl = await h.redis.ttl(flagKey);
    expect(ttl).toBeGreaterThan(CANCEL_FLAG_TTL_SECONDS - 60);
    expect(ttl).toBeLessThanOrEqual(CANCEL_FLAG_TTL_SECONDS);
    await waitFor(() => listener.received.length === 1, { message: 'cancel signal published' });
    expect(listener.received).toEqual([{ conversationId: conv, messageId }]);

    // The SSE client watching that turn sees it end.
    expect((await sse.rest()).map((f) => f.event)).toEqual(['turn.queued', 'turn.cancelled']);

    // Cancelling again: the turn is over.
    const again = await cancel(conv, messageId);
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({
      code: 'message_not_cancellable',
      details: { status: 'cancelled' },
    });
  });

  it('answers 202 cancelling for a running turn and leaves the job to its worker', async () => {
    const conv = await newConversation();
    const messageId = await postMessage(conv);
    // A real BullMQ worker takes the job and holds it, as a turn in progress would.
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let taken: Job | undefined;
    const worker = new Worker(
      TURNS_QUEUE,
      async (job) => {
        taken = job;
        await held;
      },
      { connection: { url: REDIS_URL, maxRetriesPerRequest: null }, prefix: h.bullPrefix, concurrency: 1 },
    );
    try {
      await waitFor(() => taken?.data.messageId === messageId, { message: 'worker took the job' });
      const res = await cancel(conv, messageId);
      expect(res.status).toBe(202);
      expect(res.body).toEqual({ messageId, status: 'cancelling' });
      expect(await h.redis.exists(cancelFlagKey(h.redisPrefix, conv, messageId))).toBe(1);
      expect(await (await h.queue.getJob(turnJobId(messageId)))!.getState()).toBe('active');
      expect((await getMessage(h.tdb.db, t.tenantId, messageId))!.status).toBe('pending');
      expect((await h.streams.read(conv)).map((e) => e.event.type)).toEqual(['turn.queued']);
    } finally {
      release();
      await worker.close();
    }
  });

  it('keeps the interrupted partial of a job waiting for a retry, as cancelled', async () => {
    const conv = await newConversation();
    const messageId = await postMessage(conv);
    const reply = await seedReply(h.tdb.db, {
      tenantId: t.tenantId,
      conversationId: conv,
      userMessageId: messageId,
      fence: 2,
    });
    await endReply(h.tdb.db, { replyId: reply.id, fence: 2, status: 'interrupted', content: '' });
    const res = await cancel(conv, messageId);
    expect(res.status).toBe(200);
    expect((await getReply(h.tdb.db, messageId))!.status).toBe('cancelled');
    expect((await h.streams.read(conv)).at(-1)!.event).toEqual({
      type: 'turn.cancelled',
      messageId,
      replyId: reply.id,
    });
  });

  it('cancels a pending message whose job is missing (its enqueue failed)', async () => {
    const conv = await newConversation();
    const messageId = await postMessage(conv);
    await (await h.queue.getJob(turnJobId(messageId)))!.remove();
    const res = await cancel(conv, messageId);
    expect(res.status).toBe(200);
    expect((await getMessage(h.tdb.db, t.tenantId, messageId))!.status).toBe('cancelled');
  });

  it('answers 409 message_not_cancellable for a finished message and changes nothing', async () => {
    const conv = await newConversation();
    const messageId = await postMessage(conv);
    await setUserMessageStatus(h.tdb.db, messageId, 'completed');
    const res = await cancel(conv, messageId);
    expect(res.status).toBe(409);
    expect(res.body.error).toMatchObject({
      code: 'message_not_cancellable',
      details: { status: 'completed' },
    });
    expect(res.body.error.message).toContain('completed');
    expect(await h.redis.exists(cancelFlagKey(h.redisPrefix, conv, messageId))).toBe(0);
    expect(await h.queue.getJob(turnJobId(messageId))).toBeDefined();
    expect((await h.streams.read(conv)).map((e) => e.event.type)).toEqual(['turn.queued']);
  });

  it('answers 404 for malformed, unknown and assistant message ids; 400 for a body with fields', async () => {
    const conv = await newConversation();
    const messageId = await postMessage(conv);
    const reply = await seedReply(h.tdb.db, {
      tenantId: t.tenantId,
      conversationId: conv,
      userMessageId: messageId,
      fence: 1,
    });
    for (const id of ['x', randomUUID(), reply.id]) {
      const res = await cancel(conv, id);
      expect(res.status, id).toBe(404);
      expect(res.body.error.code).toBe('message_not_found');
    }
    const withBody = await h.request('POST', `/v1/conversations/${conv}/messages/${messageId}/cancel`, {
      key: t.keys.client,
      body: { force: true },
    });
    expect(withBody.status).toBe(400);
    expect(withBody.body.error.message).toContain('force: unknown field');
    expect((await getMessage(h.tdb.db, t.tenantId, messageId))!.status).toBe('pending');
    expect(await h.redis.exists(cancelFlagKey(h.redisPrefix, conv, messageId))).toBe(0);
  });
});
