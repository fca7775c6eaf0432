import { randomUUID } from 'node:crypto';
import type { DeliveredEvent, TurnEvent } from '@turnstream/contracts';
import { Redis, type RedisOptions } from 'ioredis';
import type { Subscription } from '../src/index.ts';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A key prefix of its own for each test file. */
export function testPrefix(): string {
  return `test-streams-${randomUUID().slice(0, 8)}`;
}

/** Opens connections and closes them all in `closeAll` (call from afterAll). */
export function connections() {
  const opened: Redis[] = [];
  return {
    open(options: RedisOptions = {}): Redis {
      const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 3, ...options });
      opened.push(redis);
      return redis;
    },
    async closeAll(): Promise<void> {
      await Promise.all(opened.map((redis) => redis.quit().catch(() => redis.disconnect())));
    },
  };
}

/** Deletes every key under `prefix`. */
export async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    if (keys.length > 0) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}

export function chunk(messageId: string, text: string): TurnEvent {
  return { type: 'chunk', messageId, text };
}

export function completed(messageId: string, content = ''): TurnEvent {
  return { type: 'turn.completed', messageId, replyId: `r-${messageId}`, content, stopReason: 'end_turn' };
}

/** Pulls exactly `n` events from a subscription. */
export async function take(iterator: AsyncIterator<DeliveredEvent>, n: number): Promise<DeliveredEvent[]> {
  const out: DeliveredEvent[] = [];
  while (out.length < n) {
    const result = await iterator.next();
    if (result.done) throw new Error(`subscription ended after ${out.length} of ${n} events`);
    out.push(result.value);
  }
  return out;
}

export function iteratorOf(subscription: Subscription): AsyncIterator<DeliveredEvent> {
  return subscription[Symbol.asyncIterator]();
}

/** Deterministic PRNG (mulberry32) so failures can be replayed from the printed seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function texts(events: DeliveredEvent[]): string[] {
  return events.map(({ event }) => ('text' in event ? event.text : event.type));
}
