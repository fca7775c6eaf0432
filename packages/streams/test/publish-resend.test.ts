import { conversationKeys } from '@turnstream/contracts';
import { waitFor } from '@turnstream/testkit';
import { describe, expect, it } from 'vitest';
import { BATCH_RECORD_KEEP } from '../src/batch-record.ts';
import { createTurnStreams } from '../src/index.ts';
import { definePublishCommand } from '../src/publish-script.ts';
import { chunk, texts } from './helpers.ts';
import { privateServerFixture } from './private-server-fixture.ts';

// A publish whose reply a dropped connection lost is sent again by the client after it reconnects
// (ioredis re-sends unanswered commands), e.g. when Redis crashed right after executing it. The batch
// must then be in the log once, not twice (the chaos suite's Redis crash showed it twice). What makes
// the repeat a no-op is the writer's batch record: one hash per writer and conversation, keeping every
// batch the writer still awaits an answer for and the newest few others.
const f = privateServerFixture();

function rawPublish(conv: string, record = 'writer') {
  const k = conversationKeys(f.prefix, conv);
  const publish = definePublishCommand(f.redis);
  const key = `${k.fence}:batches:${record}`;
  return {
    key,
    /** Appends one chunk as batch `batch`, the writer still awaiting every batch from `floor` on. */
    send: (batch: number, floor: number, text: string) =>
      publish(
        k.log,
        k.fence,
        key,
        k.ends,
        k.released,
        '3',
        '1000',
        '86400',
        k.channel,
        '0',
        '',
        String(batch),
        String(floor),
        JSON.stringify(chunk('m1', text)),
      ),
  };
}

describe('a publish sent twice', () => {
  it('appends its batch once and answers the repeat with the same ids', async () => {
    const conv = crypto.randomUUID();
    const { send } = rawPublish(conv);
    const first = await send(1, 1, 'once');
    const again = await send(1, 1, 'once');
    expect(first[0]).toBe(1);
    expect(again).toEqual(first);
    expect(texts(await f.streams.read(conv))).toEqual(['once']);
  });

  it('keeps a batch the writer still awaits however many batches follow it', async () => {
    const conv = crypto.randomUUID();
    const { key, send } = rawPublish(conv);
    const first = await send(1, 1, 'awaited');
    // Batch 1's answer has not come back: every later batch says so with floor 1.
    const later = BATCH_RECORD_KEEP * 4;
    for (let b = 2; b <= later + 1; b++) await send(b, 1, `b${b}`);
    expect(await f.redis.hexists(key, '1')).toBe(1);
    expect(await send(1, 1, 'awaited')).toEqual(first);
    expect(await f.redis.xlen(conversationKeys(f.prefix, conv).log)).toBe(later + 1);
  });

  it('forgets answered batches beyond the newest few: the record stays small', async () => {
    const conv = crypto.randomUUID();
    const { key, send } = rawPublish(conv);
    const batches = BATCH_RECORD_KEEP * 10;
    // Each batch answered before the next: the floor is the batch itself.
    for (let b = 1; b <= batches; b++) await send(b, b, `b${b}`);
    const kept = (await f.redis.hkeys(key)).map(Number).sort((a, b) => a - b);
    expect(kept.length).toBeGreaterThanOrEqual(BATCH_RECORD_KEEP);
    expect(kept.length).toBeLessThanOrEqual(BATCH_RECORD_KEEP * 2);
    expect(kept.at(-1)).toBe(batches);
    // The newest are kept: a late repeat of one of them is still a no-op.
    const log = await f.redis.xlen(conversationKeys(f.prefix, conv).log);
    await send(batches - 1, batches, 'repeat');
    expect(await f.redis.xlen(conversationKeys(f.prefix, conv).log)).toBe(log);
  });

  it('one record per writer and conversation, however many batches, expiring after the last', async () => {
    const conv = crypto.randomUUID();
    const k = f.streams.keys(conv);
    for (let i = 0; i < BATCH_RECORD_KEEP * 5; i++) {
      expect((await f.streams.publish(conv, 1, [chunk('m1', `t${i}`)])).ok).toBe(true);
    }
    const records = await f.redis.keys(`${k.fence}:batch*`);
    expect(records).toHaveLength(1);
    expect(await f.redis.hlen(records[0]!)).toBeLessThanOrEqual(BATCH_RECORD_KEEP * 2);
    expect(await f.redis.ttl(records[0]!)).toBeGreaterThan(0);
    // Another writer (another process) keeps a record of its own: batch numbers never collide.
    const other = createTurnStreams({ redis: f.redis, keyPrefix: f.prefix });
    expect((await other.publish(conv, 1, [chunk('m1', 'other')])).ok).toBe(true);
    expect(await f.redis.keys(`${k.fence}:batch*`)).toHaveLength(2);
    expect(texts(await f.streams.read(conv))).toHaveLength(BATCH_RECORD_KEEP * 5 + 1);
  });

  it('a publish whose answer a dropped connection lost is re-sent by the client and appended once', async () => {
    const conv = crypto.randomUUID();
    const k = conversationKeys(f.prefix, conv);
    const writer = f.redis.duplicate({ maxRetriesPerRequest: null });
    try {
      const streams = createTurnStreams({ redis: writer, keyPrefix: f.prefix });
      expect((await streams.publish(conv, 1, [chunk('m1', 'before')])).ok).toBe(true);
      // Redis runs the next publish, but its answer is never read: the connection drops first.
      writer.stream.pause();
      const publishing = streams.publish(conv, 1, [chunk('m1', 'lost answer')]);
      await waitFor(async () => (await f.redis.xlen(k.log)) === 2, { message: 'the publish to run' });
      writer.stream.destroy();
      // ioredis reconnects and sends the unanswered publish again: the record makes it a no-op.
      const result = await publishing;
      expect(result.ok).toBe(true);
      const log = await f.streams.read(conv);
      expect(texts(log)).toEqual(['before', 'lost answer']);
      expect(result).toEqual({ ok: true, ids: [log[1]!.id] });
    } finally {
      writer.disconnect();
    }
  });
});
