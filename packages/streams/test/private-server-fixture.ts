import { type RedisServer, type RedisServerOptions, startRedisServer } from '@turnstream/testkit';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { createTurnStreams, type TurnStreams } from '../src/index.ts';
import { connections, testPrefix } from './helpers.ts';

/** What {@link privateServerFixture} gives a test file (`server`, `redis`, `streams` are set in beforeAll). */
export interface PrivateServerFixture {
  prefix: string;
  server: RedisServer;
  redis: Redis;
  streams: TurnStreams;
}

/**
 * Per test file: a private redis-server (tests may flush its scripts or drop its connections), a
 * connection to it and TurnStreams on a key prefix of its own; all stopped in afterAll.
 */
export function privateServerFixture(serverOptions: RedisServerOptions = {}): PrivateServerFixture {
  const conns = connections();
  const fixture = { prefix: testPrefix() } as PrivateServerFixture;
  beforeAll(async () => {
    fixture.server = await startRedisServer(serverOptions);
    // The server's URL: options with a port alone would still connect to the shared server (REDIS_URL).
    fixture.redis = conns.open(fixture.server.url);
    fixture.streams = createTurnStreams({ redis: fixture.redis, keyPrefix: fixture.prefix });
  });
  afterAll(async () => {
    await conns.closeAll();
    await fixture.server?.stop();
  });
  return fixture;
}
