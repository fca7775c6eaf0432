// The rate gate on a real Redis Cluster (three masters on private ports): its close and check scripts run
// on the shard holding the gate (an error there would fail every check, and a failed check lets the
// request go), with or without a hash tag in the prefix.
import { randomUUID } from 'node:crypto';
import { createRedis, type RedisClient } from '@turnstream/config';
import { type RedisCluster, startRedisCluster } from '@turnstream/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClaudeRateGate, claudeKeyId } from '../src/rate-gate.ts';

let cluster: RedisCluster;
let redis: RedisClient;

beforeAll(async () => {
  cluster = await startRedisCluster({ replicas: 0 });
  redis = createRedis({ url: 'redis://', clusterNodes: cluster.seeds });
}, 90_000);

afterAll(async () => {
  redis?.disconnect();
  await cluster?.stop();
});

describe('Claude rate gate on a Redis Cluster', () => {
  it('closes, stamps the close and answers the send check', async () => {
    for (const redisPrefix of [`tgc${randomUUID().slice(0, 8)}`, `{tgc${randomUUID().slice(0, 8)}}`]) {
      const gate = new ClaudeRateGate(redis, { redisPrefix, keyId: claudeKeyId('sk-cluster') });
      const closed = await gate.close(60_000);
      expect(closed.closedMs).toBe(60_000);
      const check = await gate.check();
      expect(check.remainingMs).toBeGreaterThan(1_000);
      expect(check.atUs).toBeGreaterThan(closed.atUs);
    }
  });
});
