// The rate gate on a real Redis Cluster (three masters on private ports): its scripts take the gate and
// its generation together, so the two keys must share a slot (a CROSSSLOT error would fail every
// check, and a failed check lets the request go).
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
  it('closes, counts its generation and answers the send check', async () => {
    for (const redisPrefix of [`tgc${randomUUID().slice(0, 8)}`, `{tgc${randomUUID().slice(0, 8)}}`]) {
      const gate = new ClaudeRateGate(redis, { redisPrefix, keyId: claudeKeyId('sk-cluster') });
      expect(await gate.close(60_000)).toEqual({ closedMs: 60_000, generation: 1 });
      expect(await gate.check()).toMatchObject({ generation: 1 });
      expect((await gate.check()).remainingMs).toBeGreaterThan(1_000);
    }
  });
});
