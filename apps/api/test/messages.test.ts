import { randomUUID } from 'node:crypto';
import { TURN_JOB_NAME, TURN_JOB_OPTIONS, TURNS_QUEUE, turnJobId } from '@turnstream/contracts';
import { finishAttempt, getMessage, listMessages, startAttempt, updateReplyContent } from '@turnstream/db';
import { seedReply } from '@turnstream/db/testing';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import type { MessageJson } from '../src/serialize.ts';
import { harnessFixture, tenantFixture } from './helpers.ts';

const h = harnessFixture();
const t = tenantFixture(h);

async function newConversation(body: Record<string, unknown> = {}): Promise<string> {
  const res = await h.request('POST', '/v1/conversations', { key: t.keys.client, body });
  expect(res.status).toBe(201);
  return res.body.id;
}

function post(conversationId: string, body: unknown, key = t.keys.client) {
  return h.request('POST', `/v1/conversations/${conversationId}/messages`, { key, body });
}

/** Jobs of one conversation in this file's queue. */
async function jobsOf(conversationId: string) {
  return (await h.allJobs()).filter((j) => j.data.conversationId === conversationId);
}

describe('POST /v1/conversations/:id/messages', () => {
  it('stores the message, enqueues exactly one job with the right payload and publishes turn.queued', async () => {
    const conv = await newConversation();
    const before = Date.now();
    const res = await post(conv, { content: 'Hello there' });
    expect(res.status).toBe(202);
    const { messageId } = res.body;
    expect(res.body).toEqual({
      messageId: expect.any(String),
      jobId: turnJobId(messageId),
      eventsUrl: `/v1/conversations/${conv}/events?messageId=${messageId}&until=turn`,
    });

    const stored = await getMessage(h.tdb.db, t.tenantId, messageId);
    expect(stored).toMatchObject({
      conversationId: conv,
      role: 'user',
      content: 'Hello there',
      status: 'pending',
      mode: 'stream',
      seq: 1,
    });

    const jobs = await jobsOf(conv);
    expect(jobs).toHaveLength(1);
    const job = jobs[0]!;
    expect(job.id).toBe(turnJobId(messageId));
    expect(job.name).toBe(TURN_JOB_NAME);
    expect(job.data).toEqual({
      v: 2,
      tenantId: t.tenantId,
      conversationId: conv,
      messageId,
      mode: 'stream',
      acceptedAt: expect.any(Number),
    });
    expect(job.data.acceptedAt).toBeGreaterThanOrEqual(before);
    expect(job.opts.attempts).toBe(TURN_JOB_OPTIONS.attempts);
    expect(JSON.stringify(job.data)).not.toContain('Hello there');
    expect(JSON.stringify(job.data)).not.toMatch(/session/i);

    const events = await h.streams.read(conv);
    expect(events.map((e) => e.event)).toEqual([{ type: 'turn.queued', messageId }]);
  });

  it("uses the conversation's mode unless the message chooses one", async () => {
    const conv = await newConversation({ mode: 'batch' });
    const a = await post(conv, { content: 'one' });
    const b = await post(conv, { content: 'two', mode: 'stream' });
    const jobs = await jobsOf(conv);
    expect(jobs.find((j) => j.data.messageId === a.body.messageId)!.data.mode).toBe('batch');
    expect(jobs.find((j) => j.data.messageId === b.body.messageId)!.data.mode).toBe('stream');
  });

  it('takes the conversation id in any letter case; the answer names it as stored', async () => {
    const conv = await newConversation();
    const res = await post(conv.toUpperCase(), { content: 'upper' });
    expect(res.status).toBe(202);
    expect(res.body.eventsUrl).toBe(
      `/v1/conversations/${conv}/events?messageId=${res.body.messageId}&until=turn`,
    );
  });

  it('is idempotent by idempotencyKey: same 202, one row, one job, one turn.queued', async () => {
    const conv = await newConversation();
    const idempotencyKey = `key-${randomUUID()}`;
    const first = await post(conv, { content: 'once', idempotencyKey });
    const second = await post(conv, { content: 'once', idempotencyKey });
    expect(first.status).toBe(202);
    expect(second.status).toBe(202);
    expect(second.body).toEqual(first.body);
    expect(await listMessages(h.tdb.db, t.tenantId, conv)).toHaveLength(1);
    expect(await jobsOf(conv)).toHaveLength(1);
    expect((await h.streams.read(conv)).filter((e) => e.event.type === 'turn.queued')).toHaveLength(1);
  });

  it('takes the key from the Idempotency-Key header too; body and header must agree', async () => {
    const conv = await newConversation();
    const key = `hdr-${randomUUID()}`;
    const send = (body: unknown, header?: string) =>
      h.request('POST', `/v1/conversations/${conv}/messages`, {
        key: t.keys.client,
        body,
        ...(header ? { headers: { 'idempotency-key': header } } : {}),
      });
    const first = await send({ content: 'via header' }, key);
    const again = await send({ content: 'via header', idempotencyKey: key });
    expect(first.status).toBe(202);
    expect(again.body).toEqual(first.body);
    const disagree = await send({ content: 'via header', idempotencyKey: 'other' }, key);
    expect(disagree.status).toBe(400);
    expect(disagree.body.error.message).toContain('Idempotency-Key: must equal the body');
    expect(await listMessages(h.tdb.db, t.tenantId, conv)).toHaveLength(1);
  });

  it('answers 409 idempotency_key_conflict for a key used in another conversation or with other content', async () => {
    const conv1 = await newConversation();
    const conv2 = await newConversation();
    const idempotencyKey = randomUUID();
    const mine = await post(conv1, { content: 'mine', idempotencyKey });
    expect(mine.status).toBe(202);
    const other = await post(conv2, { content: 'mine', idempotencyKey });
    expect(other.status).toBe(409);
    expect(other.body.error).toMatchObject({
      code: 'idempotency_key_conflict',
      details: { messageId: mine.body.messageId },
    });
    const changed = await post(conv1, { content: 'changed', idempotencyKey });
    expect(changed.status).toBe(409);
    expect(changed.body.error.code).toBe('idempotency_key_conflict');
    expect(await listMessages(h.tdb.db, t.tenantId, conv2)).toHaveLength(0);
    expect(await jobsOf(conv2)).toHaveLength(0);
  });

  it("another tenant's idempotency key behaves like a fresh one: ids cannot be probed or squatted", async () => {
    const other = await h.tenant();
    const theirConv = (await h.request('POST', '/v1/conversations', { key: other.keys.client, body: {} }))
      .body.id;
    const idempotencyKey = randomUUID();
    const theirs = await post(theirConv, { content: 'theirs', idempotencyKey }, other.keys.client);
    expect(theirs.status).toBe(202);
    const conv = await newConversation();
    const mine = await post(conv, { content: 'theirs', idempotencyKey });
    expect(mine.status).toBe(202);
    expect(mine.body.messageId).not.toBe(theirs.body.messageId);
    expect(await listMessages(h.tdb.db, t.tenantId, conv)).toHaveLength(1);
    expect(await listMessages(h.tdb.db, other.tenantId, theirConv)).toHaveLength(1);
  });

  it('message ids are assigned by the server: a client-chosen id is refused', async () => {
    const conv = await newConversation();
    const res = await post(conv, { content: 'hi', id: randomUUID() });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toContain('id: unknown field');
    expect(await listMessages(h.tdb.db, t.tenantId, conv)).toHaveLength(0);
  });

  const invalid: Array<[string, unknown, string]> = [
    ['no body', undefined, 'body: is required'],
    ['missing content', { mode: 'stream' }, 'content: is required'],
    ['empty content', { content: '' }, 'content: must not be empty'],
    ['whitespace content', { content: ' \n\t ' }, 'content: must not be whitespace only'],
    ['too long content', { content: 'x'.repeat(100_001) }, 'content: must be at most 100000 characters'],
    ['non-string content', { content: ['hi'] }, 'content: must be a string, got array'],
    ['bad mode', { content: 'hi', mode: 'live' }, 'mode: must be one of "stream", "batch"'],
    ['empty idempotency key', { content: 'hi', idempotencyKey: '' }, 'idempotencyKey: must not be empty'],
    [
      'idempotency key with NUL',
      { content: 'hi', idempotencyKey: 'a\u0000' },
      'idempotencyKey: must not contain NUL',
    ],
    ['unknown field', { content: 'hi', role: 'assistant' }, 'role: unknown field'],
  ];
  for (const [name, body, message] of invalid) {
    it(`rejects ${name} with validation_failed: no row, no job, no event`, async () => {
      const conv = await newConversation();
      const res = await post(conv, body);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('validation_failed');
      expect(res.body.error.message).toContain(message);
      expect(await listMessages(h.tdb.db, t.tenantId, conv)).toHaveLength(0);
      expect(await jobsOf(conv)).toHaveLength(0);
      expect(await h.streams.read(conv)).toHaveLength(0);
    });
  }

  it('rejects invalid JSON with invalid_json and changes nothing', async () => {
    const conv = await newConversation();
    const res = await h.request('POST', `/v1/conversations/${conv}/messages`, {
      key: t.keys.client,
      rawBody: '{"content": "hi"',
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_json');
    expect(await listMessages(h.tdb.db, t.tenantId, conv)).toHaveLength(0);
    expect(await jobsOf(conv)).toHaveLength(0);
  });

  it('answers 404 conversation_not_found for a malformed or unknown conversation id, enqueuing nothing', async () => {
    const jobsBefore = (await h.allJobs()).length;
    for (const id of ['nope', randomUUID()]) {
      const res = await post(id, { content: 'hi' });
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('conversation_not_found');
    }
    expect(await h.allJobs()).toHaveLength(jobsBefore);
  });

  it('answers 503 enqueue_failed when the queue is unavailable; the message stays pending and a retry enqueues it', async () => {
    const conv = await newConversation();
    // A real queue whose Redis is unreachable (nothing listens on port 1; no reconnects).
    const unreachable = new Redis('redis://127.0.0.1:1', {
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    unreachable.on('error', () => {});
    const broken = new Queue(TURNS_QUEUE, { connection: unreachable, prefix: h.bullPrefix });
    broken.on('error', () => {});
    const app = h.build({ queue: broken });
    await app.ready();
    const idempotencyKey = randomUUID();
    const res = await app.inject({
      method: 'POST',
      url: `/v1/conversations/${conv}/messages`,
      headers: { authorization: `Bearer ${t.keys.client}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ content: 'queued later', idempotencyKey }),
    });
    expect(res.statusCode).toBe(503);
    const body = res.json();
    const id: string = body.error.details.messageId;
    expect(body.error).toMatchObject({ code: 'enqueue_failed', details: { messageId: expect.any(String) } });
    expect(body.error.message).toContain('queued again automatically');
    expect((await getMessage(h.tdb.db, t.tenantId, id))!.status).toBe('pending');
    expect(await jobsOf(conv)).toHaveLength(0);
    expect(h.metrics.enqueueFailures).toBeGreaterThanOrEqual(1);

    // The client retries with the same key against a healthy replica: the job is created now.
    const retry = await post(conv, { content: 'queued later', idempotencyKey });
    expect(retry.status).toBe(202);
    expect(retry.body.messageId).toBe(id);
    expect((await jobsOf(conv)).map((j) => j.id)).toEqual([turnJobId(id)]);
    expect(await listMessages(h.tdb.db, t.tenantId, conv)).toHaveLength(1);
    // turn.queued went out once, with the message (before the failed enqueue), not again on the retry.
    expect((await h.streams.read(conv)).map((e) => e.event)).toEqual([
      { type: 'turn.queued', messageId: id },
    ]);
    await app.close();
    await broken.close().catch(() => undefined);
    unreachable.disconnect();
  });
});

describe('GET /v1/conversations/:id/messages', () => {
  it('lists the history with partial streaming replies', async () => {
    const conv = await newConversation();
    const first = (await post(conv, { content: 'first' })).body.messageId;
    const second = (await post(conv, { content: 'second' })).body.messageId;
    // A worker streaming the first reply: the row exists and its content is updated live.
    const reply = await seedReply(h.tdb.db, {
      tenantId: t.tenantId,
      conversationId: conv,
      userMessageId: first,
      fence: 1,
    });
    await updateReplyContent(h.tdb.db, { replyId: reply.id, fence: 1, content: 'partial ans' });

    const res = await h.request('GET', `/v1/conversations/${conv}/messages`, { key: t.keys.viewer });
    expect(res.status).toBe(200);
    const msgs = res.body.messages;
    expect(msgs.map((m: MessageJson) => [m.role, m.content, m.status, m.replyTo])).toEqual([
      ['user', 'first', 'pending', null],
      ['assistant', 'partial ans', 'streaming', first],
      ['user', 'second', 'pending', null],
    ]);
    expect(Object.keys(msgs[0]).sort()).toEqual(
      [
        'id',
        'seq',
        'role',
        'content',
        'status',
        'replyTo',
        'mode',
        'errorCode',
        'stopReason',
        'usage',
        'createdAt',
        'updatedAt',
        'completedAt',
        'metadata',
      ].sort(),
    );
    expect(msgs[2].id).toBe(second);

    const page = await h.request('GET', `/v1/conversations/${conv}/messages?afterSeq=1&limit=10`, {
      key: t.keys.viewer,
    });
    expect(page.body.messages.map((m: MessageJson) => m.id)).toEqual([second]);
  });

  it('validates its query', async () => {
    const conv = await newConversation();
    const res = await h.request('GET', `/v1/conversations/${conv}/messages?limit=1000`, {
      key: t.keys.viewer,
    });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toContain('limit: must be an integer from 1 to 500');
  });
});

describe('GET /v1/conversations/:id/messages/:messageId', () => {
  it('returns the message, its reply and (for admins) its attempts', async () => {
    const conv = await newConversation();
    const messageId = (await post(conv, { content: 'look at me' })).body.messageId;
    const streaming = await seedReply(h.tdb.db, {
      tenantId: t.tenantId,
      conversationId: conv,
      userMessageId: messageId,
      fence: 3,
    });
    const attempt = await startAttempt(h.tdb.db, {
      tenantId: t.tenantId,
      conversationId: conv,
      messageId,
      jobId: turnJobId(messageId),
      attempt: 1,
      workerId: 'w1',
      fence: 3,
      sessionId: null,
      assistantSessionId: null,
    });
    await finishAttempt(h.tdb.db, attempt.id, { outcome: 'retrying', errorCode: 'overloaded' });

    const res = await h.request('GET', `/v1/conversations/${conv}/messages/${messageId}`, {
      key: t.keys.admin,
    });
    expect(res.status).toBe(200);
    expect(res.body.message).toMatchObject({ id: messageId, role: 'user', content: 'look at me' });
    expect(res.body.reply).toMatchObject({
      id: streaming.id,
      role: 'assistant',
      status: 'streaming',
      replyTo: messageId,
    });
    expect(res.body.attempts).toEqual([
      expect.objectContaining({
        attempt: 1,
        workerId: 'w1',
        fence: 3,
        outcome: 'retrying',
        errorCode: 'overloaded',
      }),
    ]);

    const reply = await h.request('GET', `/v1/conversations/${conv}/messages/${streaming.id}`, {
      key: t.keys.viewer,
    });
    expect(reply.body).toEqual({ message: expect.objectContaining({ role: 'assistant' }), reply: null });
  });

  it('answers 404 message_not_found for malformed, unknown and foreign-conversation ids', async () => {
    const conv = await newConversation();
    const elsewhere = await newConversation();
    const foreign = (await post(elsewhere, { content: 'x' })).body.messageId;
    for (const id of ['bad', randomUUID(), foreign]) {
      const res = await h.request('GET', `/v1/conversations/${conv}/messages/${id}`, { key: t.keys.viewer });
      expect(res.status, id).toBe(404);
      expect(res.body.error.code).toBe('message_not_found');
    }
  });
});
