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
});
