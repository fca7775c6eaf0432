// The key-revocation watcher on a real Redis Cluster (three masters, three replicas on private ports).
// On a Cluster ioredis itself subscribes the watcher again whenever its subscriber connection ends
// (ClusterSubscriber; see subscriberRedis in @turnstream/config): the watcher hears notices again after
// that connection is killed over and over (most of those resubscribes lost with their connections),
// and no promise is left to reject unhandled (which would end the API). What it heard is read from a
// key cache handed to it (the API itself keeps none on a Cluster): a notice drops the key's entry.
import { randomUUID } from 'node:crypto';
import { createRedis, type RedisClient } from '@turnstream/config';
import { createTestDatabase, type TestDatabase } from '@turnstream/db/testing';
import { memoryLogger } from '@turnstream/logger/testing';
import {
  type RedisCluster,
  recordUnhandledRejections,
  startRedisCluster,
  type UnhandledRejections,
  waitFor,
} from '@turnstream/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyCache } from '../src/key-cache.ts';
import { KeyRevocationWatcher, keyRevokedChannel } from '../src/key-revocation.ts';
import { SseRegistry } from '../src/sse.ts';

const prefix = `tkr${randomUUID().slice(0, 8)}`;
let cluster: RedisCluster;
let redis: RedisClient;
let tdb: TestDatabase;
let unhandled: UnhandledRejections;

beforeAll(async () => {
  unhandled = recordUnhandledRejections();
  tdb = await createTestDatabase();
  cluster = await startRedisCluster();
  redis = createRedis({ url: 'redis://', clusterNodes: cluster.seeds }, { maxRetriesPerRequest: null });
  redis.on('error', () => {}); // its connections are killed too
}, 90_000);

afterAll(async () => {
  unhandled?.stop();
  redis?.disconnect();
  await cluster?.stop();
  await tdb?.drop();
});

/** Resolves once a revocation notice (published again until heard) drops a key the cache holds. */
async function hearsNotices(cache: ApiKeyCache, message: string): Promise<void> {
  const keyId = randomUUID();
  const found = { keyId, tenantId: randomUUID(), role: 'client' as const, prefix: 'ts_k', expiresAt: null };
  await waitFor(
    async () => {
      await cache.resolve(keyId, async () => found);
      return cache.size === 1;
    },
    { message: 'the key kept (the channel subscribed)' },
  );
  await waitFor(
    async () => {
      if (cache.size === 0) return true;
      // Another process's notice (this process's own watchers hear its notices without Redis).
      await redis.publish(keyRevokedChannel(prefix), JSON.stringify({ keyIds: [keyId] }));
      return cache.size === 0;
    },
    { intervalMs: 50, message },
  );
}

describe('the key-revocation watcher on a Redis Cluster', () => {
  it('hears notices again after its subscriber connection is killed over and over', async () => {
    const cache = new ApiKeyCache(600_000);
    const watcher = new KeyRevocationWatcher({
      db: tdb.db,
      redis,
      prefix,
      sse: new SseRegistry(),
      logger: memoryLogger().logger,
      sweepMs: 600_000,
      keyCache: cache,
    });
    try {
      await watcher.start();
      await hearsNotices(cache, 'a notice before any kill');
      expect(await cluster.churnSubscribers()).toBeGreaterThanOrEqual(5);
      await hearsNotices(cache, 'a notice after the kills');
      expect(unhandled.reasons).toEqual([]);
    } finally {
      await watcher.close();
    }
  });
});
