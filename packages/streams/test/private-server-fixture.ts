import { type RedisServer, type RedisServerOptions, startRedisServer } from '@turnstream/testkit';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import {
  createEventSubscriber,
  createTurnStreams,
  type EventSubscriber,
  type EventSubscriberOptions,
  type TurnStreams,
} from '../src/index.ts';
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

/** What {@link outageSubscriber} gives a test. */
export interface OutageSubscriber {
  subscriber: EventSubscriber;
  /** Every error the subscriber reported (`onError`). */
  errors: Error[];
  /** Closes the subscriber, then the connection it was made on. */
  close(): Promise<void>;
}

/**
 * An event subscriber for an outage test on the fixture's server, on `options.redis` and (unless
 * given) the fixture's streams, its errors collected. The fixture's own connection is refused too
 * while the server is down: its errors are silenced here.
 */
export function outageSubscriber(
  f: PrivateServerFixture,
  options: Omit<EventSubscriberOptions, 'streams'> & { streams?: TurnStreams },
): OutageSubscriber {
  f.redis.on('error', () => {});
  const errors: Error[] = [];
  const subscriber = createEventSubscriber({
    streams: f.streams,
    onError: (e) => errors.push(e),
    ...options,
  });
  return {
    subscriber,
    errors,
    close: async () => {
      await subscriber.close();
      await options.redis.quit().catch(() => options.redis.disconnect());
    },
  };
}
