import { randomUUID } from 'node:crypto';
import { createTestDatabase, seedTenant, seedTurn, type TestDatabase } from '@turnstream/db/testing';
import { createTurnStreams, type TurnStreams } from '@turnstream/streams';
import { deleteKeys, waitFor } from '@turnstream/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LiveReplyWriter } from '../src/live-replies.ts';
import { ReplyPublisher } from '../src/reply-publisher.ts';

const prefix = `test-publisher-${randomUUID().slice(0, 8)}`;
let tdb: TestDatabase;
let redis: Redis;
let streams: TurnStreams;
let live: LiveReplyWriter;

beforeAll(async () => {
  tdb = await createTestDatabase({ max: 4 });
  redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  streams = createTurnStreams({ redis, keyPrefix: prefix });
  live = new LiveReplyWriter({ db: tdb.db, intervalMs: 50 });
});
afterAll(async () => {
  await live?.close();
  await deleteKeys(redis, `${prefix}:*`);
  await redis?.quit();
  await tdb?.drop();
});

async function newTurn(fence: number, mode: 'stream' | 'batch') {
  const tenantId = (await seedTenant(tdb.db)).tenant.id;
  const { user, reply } = await seedTurn(tdb.db, { tenantId, fence });
  const publisher = new ReplyPublisher({
    streams,
    liveReplies: live,
    conversationId: user.conversationId,
    messageId: user.id,
    replyId: reply.id,
    fence,
    mode,
    coalesceWindowMs: () => 30,
    onFencedOut: () => undefined,
  });
  const logged = async () =>
    (await streams.read(user.conversationId)).map((e) => [
      e.event.type,
      'text' in e.event ? e.event.text : null,
    ]);
  return { publisher, logged, messageId: user.id };
}

describe('ReplyPublisher', () => {
  it('open publishes the opening events and the held deltas in one batch, merged by kind, up to 2048 characters', async () => {
    const { publisher, logged, messageId } = await newTurn(1, 'stream');
    const long = 'x'.repeat(2045);
    try {
      await publisher.open(
        [{ type: 'turn.started', messageId, replyId: randomUUID(), attempt: 1 }],
        [
          { type: 'thinking_delta', text: 'hm' },
          { type: 'text_delta', text: 'Hel' },
          { type: 'text_delta', text: 'lo' },
          { type: 'text_delta', text: long },
          { type: 'text_delta', text: '!' },
        ],
      );
      expect(await logged()).toEqual([
        ['turn.started', null],
        ['thinking', 'hm'],
        ['chunk', 'Hello'],
        ['chunk', `${long}!`],
      ]);
      expect(publisher.content).toBe(`Hello${long}!`);
      expect(publisher.chunksPublished).toBe(true);
      // The next delta follows through the coalescer.
      publisher.textDelta(' again');
      await publisher.flush();
      expect((await logged()).at(-1)).toEqual(['chunk', ' again']);
    } finally {
      await publisher.close({ discard: true });
    }
  });

  it('open in batch mode publishes no chunk but keeps the held text', async () => {
    const { publisher, logged, messageId } = await newTurn(1, 'batch');
    try {
      await publisher.open(
        [{ type: 'turn.started', messageId, replyId: randomUUID(), attempt: 1 }],
        [{ type: 'text_delta', text: 'quiet' }],
      );
      expect(await logged()).toEqual([['turn.started', null]]);
      expect(publisher.content).toBe('quiet');
      expect(publisher.chunksPublished).toBe(false);
    } finally {
      await publisher.close({ discard: true });
    }
  });

  it('after a turn.reset the first delta of the new attempt is published at once, not after the window', async () => {
    const tenantId = (await seedTenant(tdb.db)).tenant.id;
    const { user, reply } = await seedTurn(tdb.db, { tenantId, fence: 1 });
    const conversationId = user.conversationId;
    // A window far longer than any wait below: a delta held for it would never show up in time.
    const publisher = new ReplyPublisher({
      streams,
      liveReplies: live,
      conversationId,
      messageId: user.id,
      replyId: reply.id,
      fence: 1,
      mode: 'stream',
      coalesceWindowMs: () => 10 * 60_000,
      onFencedOut: () => undefined,
    });
    const logged = async () => (await streams.read(conversationId)).map((e) => e.event);
    try {
      publisher.textDelta('first attempt');
      await waitFor(async () => (await logged()).some((e) => e.type === 'chunk'));
      await publisher.reset('session_invalid');
      publisher.textDelta('second attempt');
      const events = await waitFor(async () => {
        const all = await logged();
        return all.at(-1)?.type === 'chunk' && all.length === 3 ? all : null;
      });
      expect(events.map((e) => [e.type, 'text' in e ? e.text : null])).toEqual([
        ['chunk', 'first attempt'],
        ['turn.reset', null],
        ['chunk', 'second attempt'],
      ]);
    } finally {
      await publisher.close({ discard: true });
    }
  });
});
