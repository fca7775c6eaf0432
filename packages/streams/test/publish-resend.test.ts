import { conversationKeys } from '@turnstream/contracts';
import { describe, expect, it } from 'vitest';
import { definePublishCommand } from '../src/publish-script.ts';
import { chunk } from './helpers.ts';
import { privateServerFixture } from './private-server-fixture.ts';

// A publish whose reply a dropped connection lost is sent again by the client after it reconnects
// (ioredis re-sends unanswered commands), e.g. when Redis crashed right after executing it. The batch
// must then be in the log once, not twice (the chaos suite's Redis crash showed it twice).
const f = privateServerFixture();

describe('a publish sent twice', () => {
  it('appends its batch once and answers the repeat with the same ids', async () => {
    const conv = crypto.randomUUID();
    const k = conversationKeys(f.prefix, conv);
    const publish = definePublishCommand(f.redis);
    const args = [
      k.log,
      k.fence,
      `${k.fence}:batch:fixed`,
      k.ends,
      k.released,
      '3',
      '1000',
      '86400',
      k.channel,
      '0',
      '',
    ] as const;
    const body = JSON.stringify(chunk('m1', 'once'));
    const first = await publish(...args, body);
    const again = await publish(...args, body);
    expect(first[0]).toBe(1);
    expect(again).toEqual(first);
    const log = await f.streams.read(conv);
    expect(log.map((e) => (e.event as { text?: string }).text)).toEqual(['once']);
  });
});
