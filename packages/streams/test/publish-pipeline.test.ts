import { describe, expect, it } from 'vitest';
import { createTurnStreams } from '../src/index.ts';
import { chunk } from './helpers.ts';
import { privateServerFixture } from './private-server-fixture.ts';

// Publishes made during one turn of the event loop leave as one pipeline. A private redis-server: the
// NOSCRIPT case flushes its script cache.
const f = privateServerFixture();

/** Counts the writes on the connection's socket while `run` runs. */
async function socketWrites<T>(run: () => Promise<T>): Promise<{ writes: number; result: T }> {
  const socket = (f.redis as unknown as { stream: { write: (...a: unknown[]) => boolean } }).stream;
  const original = socket.write;
  let writes = 0;
  socket.write = function (this: unknown, ...args: unknown[]) {
    writes++;
    return original.apply(this, args);
  };
  try {
    const result = await run();
    return { writes, result };
  } finally {
    socket.write = original;
  }
}

describe('pipelined publishes', () => {
  it('publishes of one loop turn share one socket write; each is its own fenced batch, in order', async () => {
    await f.streams.publish('p-fenced', 5, []);
    await f.streams.publish('warm', null, [chunk('m', 'warm')]); // the script is loaded on the socket
    const conversations = Array.from({ length: 40 }, (_, i) => `p-${i}`);
    const { writes, result } = await socketWrites(() =>
      Promise.all([
        ...conversations.map((c, i) => f.streams.publish(c, 1, [chunk('m', `a${i}`), chunk('m', `b${i}`)])),
        f.streams.publish('p-fenced', 4, [chunk('m', 'zombie')]),
        f.streams.publish('p-0', 1, [chunk('m', 'later')]),
      ]),
    );
    expect(writes).toBe(1);
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
