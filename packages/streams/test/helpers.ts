import { randomUUID } from 'node:crypto';
import { type DeliveredEvent, isTerminalEvent, type TurnEvent } from '@turnstream/contracts';
import { Redis, type RedisOptions } from 'ioredis';
import { expect } from 'vitest';
import { compareStreamIds, type Subscription, type TurnStreams } from '../src/index.ts';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A key prefix of its own for each test file. */
export function testPrefix(): string {
  return `test-streams-${randomUUID().slice(0, 8)}`;
}

/** Opens connections and closes them all in `closeAll` (call from afterAll). */
export function connections() {
  const opened: Redis[] = [];
  return {
    /** A connection to the shared Redis with `options`, or to the server at `url`. */
    open(options: RedisOptions | string = {}): Redis {
      const redis =
        typeof options === 'string'
          ? new Redis(options, { maxRetriesPerRequest: 3 })
          : new Redis(REDIS_URL, { maxRetriesPerRequest: 3, ...options });
      opened.push(redis);
      return redis;
    },
    async closeAll(): Promise<void> {
      await Promise.all(opened.map((redis) => redis.quit().catch(() => redis.disconnect())));
    },
  };
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

export function texts(events: DeliveredEvent[]): string[] {
  return events.map(({ event }) => ('text' in event ? event.text : event.type));
}

/** Pulls until a terminal event (inclusive). */
export async function untilTerminal(iterator: AsyncIterator<DeliveredEvent>): Promise<DeliveredEvent[]> {
  const out: DeliveredEvent[] = [];
  for (;;) {
    const result = await iterator.next();
    if (result.done) throw new Error(`ended after ${out.length} events without a terminal event`);
    out.push(result.value);
    if (isTerminalEvent(result.value.event)) return out;
  }
}

/** Resolves once `condition()` holds or `orUntil` has settled (polls; no fixed delay). */
export async function until(condition: () => boolean, orUntil?: Promise<unknown>): Promise<void> {
  let settled = false;
  void orUntil?.finally(() => {
    settled = true;
  });
  while (!condition() && !settled) await new Promise((resolve) => setTimeout(resolve, 1));
}

export function expectStrictlyIncreasing(ids: string[]): void {
  for (let i = 1; i < ids.length; i++) expect(compareStreamIds(ids[i - 1]!, ids[i]!)).toBeLessThan(0);
}

/** Fault injection: wraps `streams` so that its first read is held, after Redis answered, until `release()`. */
export function holdFirstRead(streams: TurnStreams) {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  let markHeld!: () => void;
  const held = new Promise<void>((resolve) => {
    markHeld = resolve;
  });
  let reads = 0;
  const wrapped: TurnStreams = {
    ...streams,
    read: async (conversationId, readOpts) => {
      const result = await streams.read(conversationId, readOpts);
      if (reads++ === 0) {
        markHeld();
        await gate;
      }
      return result;
    },
  };
  return { streams: wrapped, held, release, reads: () => reads };
}

/**
 * Observes the live messages of the subscriber connection that `base.duplicate()` will create.
 * `next()` settles after the subscriber has dispatched the next message (its listener runs in the
 * same synchronous emit, before this promise's continuation).
 */
export function observeSubscriberMessages(base: Redis) {
  const waiters: (() => void)[] = [];
  const duplicate = base.duplicate.bind(base);
  base.duplicate = (override) => {
    const connection = duplicate(override);
    connection.on('message', () => {
      for (const waiter of waiters.splice(0)) waiter();
    });
    return connection;
  };
  return { next: () => new Promise<void>((resolve) => waiters.push(resolve)) };
}
