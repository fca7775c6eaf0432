import { duplicateRedis } from '@turnstream/config';
import type { TurnEvent } from '@turnstream/contracts';
import { ensureActiveSession } from '@turnstream/db';
import { createTurnStreams } from '@turnstream/streams';
import { sampleValue } from '@turnstream/telemetry/testing';
import { waitFor } from '@turnstream/testkit';
import { describe, expect, it } from 'vitest';
import { systemFixture } from '../support/system-fixture.ts';
import { createConversation, loggedTurn, postMessage, waitForTurn } from '../support/turns.ts';
import { workerWithMetrics } from '../support/worker-metrics.ts';

// A turn starts its Claude request as soon as it holds the lease and its transcript, while the session
// fence is still being claimed. Here the claim is held up by a row lock on the session, so the whole
// reply arrives at the worker before the fence is confirmed: nothing of it may reach the log until then,
// and nothing at all when the claim is refused.
describe('the Claude request starts before the fence is confirmed', () => {
  const sys = systemFixture({ workers: 0 });
  const metrics = workerWithMetrics(sys);

  /** Claude calls the worker finished reading (the early request counts once its last chunk arrived). */
  const finishedCalls = async (): Promise<number> =>
    sampleValue(await metrics.scrape(), 'turnstream_claude_call_duration_seconds_count', { result: 'ok' });

  /**
   * Lock the conversation's session row (the claim of the fence waits for it) until `release` is
   * called; `bumpFence` then raises the session's fence first, so the waiting claim is refused.
   */
  async function lockSession(conversationId: string) {
    const session = await ensureActiveSession(sys.tdb.db, sys.tenantId, conversationId);
    let release!: (bumpFence: boolean) => void;
    const released = new Promise<boolean>((resolve) => {
      release = resolve;
    });
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => {
      locked = resolve;
    });
    const done = sys.tdb.sql.begin(async (tx) => {
      await tx`select id from sessions where id = ${session.id} for update`;
      locked();
      if (await released) await tx`update sessions set fence = 1000000 where id = ${session.id}`;
    });
    await isLocked;
    return {
      release: (bumpFence: boolean) => {
        release(bumpFence);
        return done;
      },
    };
  }

  const chunksOf = (events: TurnEvent[]) => events.flatMap((e) => (e.type === 'chunk' ? [e] : []));

  /** The event types of each live batch published on the conversation's channel, from now on. */
  async function liveBatches(conversationId: string) {
    const streams = createTurnStreams({ redis: sys.redis, keyPrefix: sys.redisPrefix });
    const subscriber = duplicateRedis(sys.redis);
    const batches: string[][] = [];
    subscriber.on('message', (_channel: string, message: string) => {
      batches.push((JSON.parse(message) as { event: TurnEvent }[]).map((d) => d.event.type));
    });
    await subscriber.subscribe(streams.keys(conversationId).channel);
    return { batches, close: () => subscriber.quit() };
  }

  it('holds every chunk until the fence is confirmed, then publishes them with turn.started', async () => {
    const conv = await createConversation(sys);
    const live = await liveBatches(conv);
    const lock = await lockSession(conv);
    const before = await finishedCalls();
    const messageId = await postMessage(sys, conv, 'hello [[sim words=12 delay=1]]');
    // The whole reply reached the worker while the claim still waits for the lock.
    await waitFor(async () => (await finishedCalls()) > before, {
      message: 'the early Claude request to finish while the fence is unconfirmed',
    });
    const streams = createTurnStreams({ redis: sys.redis, keyPrefix: sys.redisPrefix });
    const logged = (await streams.read(conv)).map((e) => e.event.type);
    expect(logged).toEqual(['turn.queued']);

    await lock.release(false);
    const { reply } = await waitForTurn(sys, conv, messageId);
    const events = await loggedTurn(sys, conv, messageId);
    const types = events.map((e) => e.type);
    expect(types[0]).toBe('turn.queued');
    expect(types[1]).toBe('turn.started');
    expect(types.at(-1)).toBe('turn.completed');
    const chunks = chunksOf(events);
    expect(chunks.length).toBeGreaterThan(0);
    expect(types.slice(2, 2 + chunks.length).every((t) => t === 'chunk')).toBe(true);
    expect(chunks.map((c) => c.text).join('')).toBe(reply!.content);
    // What the early request held went out in turn.started's own batch (merged into one chunk event):
    // the first chunk cost no publish of its own.
    await live.close();
    expect(live.batches.find((b) => b.includes('turn.started'))).toEqual(['turn.started', 'chunk']);
    // One request: the early one was used.
    const requests = (await sys.simRequests()).filter((r) => JSON.stringify(r).includes('hello'));
    expect(requests).toHaveLength(1);
  });

  it('a refused claim publishes nothing of its early request; the retry streams the reply once', async () => {
    const conv = await createConversation(sys);
    const lock = await lockSession(conv);
    const before = await finishedCalls();
    const messageId = await postMessage(sys, conv, 'refused [[sim words=12 delay=1]]');
    await waitFor(async () => (await finishedCalls()) > before, {
      message: 'the early Claude request to finish while the fence is unconfirmed',
    });
    // A newer fence takes the session while the claim waits: this attempt is not the owner.
    await lock.release(true);
    const { user, reply } = await waitForTurn(sys, conv, messageId);
    expect(user.status).toBe('completed');
    const events = await loggedTurn(sys, conv, messageId);
    const types = events.map((e) => e.type);
    expect(types.filter((t) => t === 'turn.started')).toHaveLength(1);
    expect(types.indexOf('turn.started')).toBeLessThan(types.indexOf('chunk'));
    expect(types).not.toContain('turn.reset');
    const chunks = chunksOf(events);
    expect(chunks.map((c) => c.text).join('')).toBe(reply!.content);
    // The refused attempt's request and the one that ran.
    const requests = (await sys.simRequests()).filter((r) => JSON.stringify(r).includes('refused'));
    expect(requests).toHaveLength(2);
  });
});
