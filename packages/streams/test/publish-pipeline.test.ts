import { conversationKeys } from '@turnstream/contracts';
import { describe, expect, it } from 'vitest';
import { createTurnStreams } from '../src/index.ts';
import { MAX_BATCHES_PER_CALL, PublishBatcher } from '../src/publish-batcher.ts';
import { chunk, texts } from './helpers.ts';
import { privateServerFixture } from './private-server-fixture.ts';

// Publishes made during one turn of the event loop leave together: one call of the several-batch
// script (several calls in one pipeline past MAX_BATCHES_PER_CALL). A private redis-server: the
// NOSCRIPT cases flush its script cache.
const f = privateServerFixture();

/**
 * Counts the writes on the connection's socket while `run` runs, and the script calls (`EVALSHA`)
 * they carried.
 */
async function socketWrites<T>(
  run: () => Promise<T>,
): Promise<{ writes: number; scriptCalls: number; result: T }> {
  const socket = (f.redis as unknown as { stream: { write: (...a: unknown[]) => boolean } }).stream;
  const original = socket.write;
  let writes = 0;
  let scriptCalls = 0;
  socket.write = function (this: unknown, ...args: unknown[]) {
    writes++;
    scriptCalls += String(args[0]).match(/\r\nevalsha\r\n/gi)?.length ?? 0;
    return original.apply(this, args);
  };
  try {
    const result = await run();
    return { writes, scriptCalls, result };
  } finally {
    socket.write = original;
  }
}

describe('pipelined publishes', () => {
  it('publishes of one loop turn go in one script call; each is its own fenced batch, in order', async () => {
    await f.streams.publish('p-fenced', 5, []);
    await f.streams.publish('warm', null, [chunk('m', 'warm')]); // the script is loaded on the socket
    const conversations = Array.from({ length: 40 }, (_, i) => `p-${i}`);
    const { writes, scriptCalls, result } = await socketWrites(() =>
      Promise.all([
        ...conversations.map((c, i) => f.streams.publish(c, 1, [chunk('m', `a${i}`), chunk('m', `b${i}`)])),
        f.streams.publish('p-fenced', 4, [chunk('m', 'zombie')]),
        f.streams.publish('p-0', 1, [chunk('m', 'later')]),
      ]),
    );
    expect(writes).toBe(1);
    expect(scriptCalls).toBe(1);
    expect(result.slice(0, 40).every((r) => r.ok && r.ids.length === 2)).toBe(true);
    expect(result[40]).toEqual({ ok: false, reason: 'stale_fence', currentFence: 5 });
    expect(await f.streams.read('p-fenced')).toEqual([]);
    expect((await f.streams.read('p-0')).map((e) => e.event)).toEqual([
      chunk('m', 'a0'),
      chunk('m', 'b0'),
      chunk('m', 'later'),
    ]);
    expect((await f.streams.read('p-39')).map((e) => e.event)).toEqual([
      chunk('m', 'a39'),
      chunk('m', 'b39'),
    ]);
  });

  it('still publishes after Redis forgot the script (NOSCRIPT: sent again as EVAL)', async () => {
    await f.streams.publish('ns-warm', null, [chunk('m', 'x')]);
    await f.redis.script('FLUSH');
    const results = await Promise.all(
      ['ns-1', 'ns-2', 'ns-3'].map((c) => f.streams.publish(c, 1, [chunk('m', c)])),
    );
    expect(results.every((r) => r.ok)).toBe(true);
    expect((await f.streams.read('ns-2')).map((e) => e.event)).toEqual([chunk('m', 'ns-2')]);
  });

  it('a batch that fails fails alone: the others of its call are published', async () => {
    await f.streams.publish('bad-warm', null, [chunk('m', 'warm')]);
    // Its log key holds a string: XADD answers WRONGTYPE for that batch only.
    await f.redis.set(conversationKeys(f.prefix, 'bad-log').log, 'not a stream');
    const results = await Promise.allSettled([
      f.streams.publish('bad-before', 1, [chunk('m', 'before')]),
      f.streams.publish('bad-log', 1, [chunk('m', 'lost')]),
      f.streams.publish('bad-after', 1, [chunk('m', 'after')]),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(String((results[1] as PromiseRejectedResult).reason)).toMatch(/WRONGTYPE/);
    expect(texts(await f.streams.read('bad-before'))).toEqual(['before']);
    expect(texts(await f.streams.read('bad-after'))).toEqual(['after']);
  });

  it(`more than ${MAX_BATCHES_PER_CALL} publishes in a loop turn go as several calls in one pipeline, in order`, async () => {
    await f.streams.publish('many-warm', null, [chunk('m', 'warm')]);
    const count = MAX_BATCHES_PER_CALL * 2 + 5;
    const conversations = Array.from({ length: count }, (_, i) => `many-${i % 50}`);
    const {
      writes,
      scriptCalls,
      result: results,
    } = await socketWrites(() =>
      Promise.all(conversations.map((c, i) => f.streams.publish(c, 1, [chunk('m', `t${i}`)]))),
    );
    expect(results.every((r) => r.ok && r.ids.length === 1)).toBe(true);
    expect(writes).toBe(1);
    expect(scriptCalls).toBe(3);
    for (const c of ['many-0', 'many-49']) {
      const i = Number(c.slice(5));
      const expected = conversations.flatMap((conv, j) => (conv === c ? [`t${j}`] : []));
      expect(expected[0]).toBe(`t${i}`);
      expect(texts(await f.streams.read(c))).toEqual(expected);
    }
  });

  it('a call sent twice (a reply lost to a dropped connection) appends each of its batches once', async () => {
    const prefix = `${f.prefix}-twice`;
    const batcher = new PublishBatcher(f.redis, { maxLen: '1000', ttl: '86400', live: '0' });
    const batch = (conv: string, n: string, text: string) => {
      const k = conversationKeys(prefix, conv);
      return {
        keys: [k.log, k.fence, `${k.fence}:batches:w`, k.ends, k.released],
        fence: '1',
        channel: k.channel,
        ending: '',
        batch: n,
        floor: n,
        events: [JSON.stringify(chunk('m', text))],
      };
    };
    const send = () =>
      Promise.all([batcher.publish(batch('a', '1', 'a1')), batcher.publish(batch('b', '2', 'b1'))]);
    const first = await send();
    const again = await send();
    expect(again).toEqual(first);
    const streams = createTurnStreams({ redis: f.redis, keyPrefix: prefix });
    expect(texts(await streams.read('a'))).toEqual(['a1']);
    expect(texts(await streams.read('b'))).toEqual(['b1']);
  });

  it('pipelinePublishes: false sends each publish on its own', async () => {
    const unbatched = createTurnStreams({
      redis: f.redis,
      keyPrefix: `${f.prefix}-u`,
      pipelinePublishes: false,
    });
    await unbatched.publish('u-warm', null, [chunk('m', 'warm')]);
    const { writes } = await socketWrites(() =>
      Promise.all(['u-1', 'u-2', 'u-3'].map((c) => unbatched.publish(c, 1, [chunk('m', c)]))),
    );
    expect(writes).toBe(3);
  });
});
