import { randomBytes } from 'node:crypto';
import type { TurnEvent } from '@turnstream/contracts';
import { createTurnStreams } from '@turnstream/streams';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { instrumentStreams } from '../src/instrument.ts';
import { TurnMetrics } from '../src/turn-metrics.ts';

// Published events are counted from the outside, against a real Redis: a batch of deltas alone (what a
// streaming turn publishes nearly every time) has nothing to count and gets the publish itself.
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `tsi${randomBytes(4).toString('hex')}`;
let redis: Redis;

beforeAll(() => {
  redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
});

afterAll(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  redis?.disconnect();
});

async function counted(metrics: TurnMetrics, outcome: string): Promise<number> {
  const metric = await metrics.registry.getSingleMetric('turnstream_turns_total')?.get();
  return metric?.values.find((v) => v.labels.outcome === outcome)?.value ?? 0;
}

describe('instrumentStreams', () => {
  it('hands a batch of deltas alone the publish itself, and counts what other batches say', async () => {
    const inner = createTurnStreams({ redis, keyPrefix: prefix });
    let last: ReturnType<typeof inner.publish> | undefined;
    const spied = {
      ...inner,
      publish: (...args: Parameters<typeof inner.publish>) => (last = inner.publish(...args)),
    };
    const metrics = new TurnMetrics();
    const streams = instrumentStreams(spied, metrics);
    const deltas: TurnEvent[] = [
      { type: 'chunk', messageId: 'm1', text: 'a' },
      { type: 'thinking', messageId: 'm1', text: 'b' },
    ];
    const published = streams.publish('c1', 1, deltas);
    expect(published).toBe(last);
    expect((await published).ok).toBe(true);

    const ending = streams.publish('c1', 1, [
      { type: 'chunk', messageId: 'm1', text: 'c' },
      { type: 'turn.cancelled', messageId: 'm1', replyId: null },
    ]);
    expect(ending).not.toBe(last);
    expect((await ending).ok).toBe(true);
    expect(await counted(metrics, 'cancelled')).toBe(1);
  });
});
