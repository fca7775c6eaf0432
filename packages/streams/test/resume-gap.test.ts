import { randomUUID } from 'node:crypto';
import { deleteKeys } from '@turnstream/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { createTurnStreams } from '../src/index.ts';
import { chunk, connections, testPrefix } from './helpers.ts';

const conns = connections();
const redis = conns.open();
const prefix = testPrefix();
afterAll(async () => {
  await deleteKeys(redis, `${prefix}:*`);
  await conns.closeAll();
});

describe('resume gap detection', () => {
  it('reports a gap when resuming before what a trimmed log still holds, and none otherwise', async () => {
    const streams = createTurnStreams({ redis, keyPrefix: prefix, maxLen: 10 });
    const conv = randomUUID();
    const ids: string[] = [];
    for (let b = 0; b < 60; b++) {
      const res = await streams.publish(
        conv,
        null,
        Array.from({ length: 10 }, (_, i) => chunk(`m`, `${b}.${i}`)),
      );
      if (!res.ok) throw new Error('publish refused');
      ids.push(...res.ids);
    }
    const oldest = (await streams.read(conv))[0]!.id;
    expect(oldest).not.toBe(ids[0]);
    expect(await streams.resumeGap(conv, ids[0]!)).toEqual({ gap: true, oldestId: oldest });
    expect((await streams.resumeGap(conv, oldest)).gap).toBe(false);
    expect((await streams.resumeGap(conv, ids.at(-1)!)).gap).toBe(false);
  });

  it('an untrimmed log has no gap whatever the id; an expired log has one', async () => {
    const streams = createTurnStreams({ redis, keyPrefix: prefix });
    const conv = randomUUID();
    await streams.publish(conv, null, [chunk('m', 'a'), chunk('m', 'b')]);
    expect((await streams.resumeGap(conv, '0-1')).gap).toBe(false);
    expect(await streams.resumeGap(randomUUID(), '1-0')).toEqual({ gap: true, oldestId: null });
  });

  it('resumeCheck: future ids are refused, ids the log never issued and trimmed ones are gaps', async () => {
    const streams = createTurnStreams({ redis, keyPrefix: prefix, maxLen: 10 });
    const conv = randomUUID();
    const first = await streams.publish(conv, null, [chunk('m', 'a'), chunk('m', 'b')]);
    if (!first.ok) throw new Error('publish refused');
    const [a, b] = first.ids as [string, string];
    expect(await streams.resumeCheck(conv, b)).toEqual({ kind: 'continue' });
    expect(await streams.resumeCheck(conv, a)).toEqual({ kind: 'continue' });
    expect(await streams.resumeCheck(conv, '0-0')).toEqual({ kind: 'continue' });
    expect((await streams.resumeCheck(conv, '9999999999999-0')).kind).toBe('future');
    expect((await streams.resumeCheck(conv, '18446744073709551615-0')).kind).toBe('future');
    // Not in the future, but after the newest id the log ever issued: replay the whole log.
    const beyond = `${b.split('-')[0]}-99`;
    expect(await streams.resumeCheck(conv, beyond)).toEqual({
      kind: 'gap',
      oldestId: a,
      replayAfter: undefined,
    });
    // Expired (or never written): a gap, then whatever comes next.
    expect(await streams.resumeCheck(randomUUID(), a)).toEqual({
      kind: 'gap',
      oldestId: null,
      replayAfter: a,
    });
    // Trimmed past the id: a gap that continues from the oldest entry left.
    await redis.xtrim(streams.keys(conv).log, 'MAXLEN', 1);
    expect(await streams.resumeCheck(conv, a)).toEqual({ kind: 'gap', oldestId: b, replayAfter: a });
    await expect(streams.resumeCheck(conv, 'nope')).rejects.toThrow(TypeError);
  });
});
