import { conversationKeys } from '@turnstream/contracts';
import { type RedisServer, startRedisServer } from '@turnstream/testkit';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTurnStreams, type TurnStreams } from '../src/index.ts';
import { definePublishCommand } from '../src/publish-script.ts';
import { chunk, connections, testPrefix } from './helpers.ts';

// A publish whose reply a dropped connection lost is sent again by the client after it reconnects
// (ioredis re-sends unanswered commands), e.g. when Redis crashed right after executing it. The batch
// must then be in the log once, not twice (the chaos suite's Redis crash showed it twice).
const conns = connections();
const prefix = testPrefix();
let server: RedisServer;
let redis: Redis;
let streams: TurnStreams;

beforeAll(async () => {
  server = await startRedisServer();
  redis = conns.open({ port: server.port, host: '127.0.0.1' });
  streams = createTurnStreams({ redis, keyPrefix: prefix });
});
afterAll(async () => {
  await conns.closeAll();
  await server?.stop();
});

describe('a publish sent twice', () => {
  it('appends its batch once and answers the repeat with the same ids', async () => {
    const conv = crypto.randomUUID();
    const k = conversationKeys(prefix, conv);
    const publish = definePublishCommand(redis);
    const args = [
      k.log,
      k.fence,
      `${k.fence}:batch:fixed`,
      k.ends,
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
    const log = await streams.read(conv);
    expect(log.map((e) => (e.event as { text?: string }).text)).toEqual(['once']);
  });
});
