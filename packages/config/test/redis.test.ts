import { type RedisCluster, startRedisCluster } from '@turnstream/testkit';
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bullPrefixFor,
  createRedis,
  duplicateRedis,
  isCluster,
  parseClusterNodes,
  type RedisClient,
  redisLayoutOf,
  serviceEnvSchema,
} from '../src/index.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

describe('REDIS_CLUSTER_NODES', () => {
  it('parses host:port seeds, IPv6 in brackets', () => {
    expect(parseClusterNodes(' 10.0.0.1:7000,redis-1.svc:7001 ,[::1]:7002')).toEqual([
      { host: '10.0.0.1', port: 7000 },
      { host: 'redis-1.svc', port: 7001 },
      { host: '::1', port: 7002 },
    ]);
  });

  it('refuses a seed without a valid port, naming the variable', () => {
    for (const bad of ['redis-1', 'redis-1:0', 'redis-1:70000', 'redis://a:1']) {
      const parsed = serviceEnvSchema.safeParse({ REDIS_CLUSTER_NODES: bad });
      expect(parsed.success, bad).toBe(false);
      expect(parsed.error?.issues[0]?.path).toEqual(['REDIS_CLUSTER_NODES']);
    }
  });

  it('unset or empty is a single server; set makes the layout a cluster', () => {
    const single = redisLayoutOf(serviceEnvSchema.parse({ REDIS_CLUSTER_NODES: '' }));
    expect(single).toMatchObject({ cluster: false, bullPrefix: 'bull', shardedPubSub: false });
    const cluster = redisLayoutOf(serviceEnvSchema.parse({ REDIS_CLUSTER_NODES: 'a:7000,b:7001' }));
    expect(cluster).toMatchObject({ cluster: true, bullPrefix: '{bull}', shardedPubSub: true });
  });

  it('hash-tags the BullMQ prefix on a cluster only, keeping a tag already given', () => {
    expect(bullPrefixFor('bull', false)).toBe('bull');
    expect(bullPrefixFor('bull', true)).toBe('{bull}');
    expect(bullPrefixFor('{acme}', true)).toBe('{acme}');
    expect(bullPrefixFor('acme:{q}', true)).toBe('acme:{q}');
    expect(bullPrefixFor('{}', true)).toBe('{{}}');
  });
});

describe('createRedis / duplicateRedis', () => {
  let cluster: RedisCluster;
  const open: RedisClient[] = [];
  const track = <T extends RedisClient>(c: T): T => {
    open.push(c);
    return c;
  };

  beforeAll(async () => {
    cluster = await startRedisCluster();
  }, 90_000);

  afterAll(async () => {
    for (const c of open) c.disconnect();
    await cluster?.stop();
  });

  it('connects to one server without cluster nodes', async () => {
    const redis = track(createRedis({ url: REDIS_URL }, { maxRetriesPerRequest: 2 }));
    expect(redis).toBeInstanceOf(Redis);
    expect(isCluster(redis)).toBe(false);
    expect(await redis.ping()).toBe('PONG');
    const copy = track(duplicateRedis(redis, { maxRetriesPerRequest: null }));
    expect(copy).toBeInstanceOf(Redis);
    expect((copy as Redis).options.maxRetriesPerRequest).toBeNull();
  });

  it('connects to the cluster through the seeds, keys landing on every master', async () => {
    const redis = track(
      createRedis({ url: REDIS_URL, clusterNodes: cluster.seeds }, { maxRetriesPerRequest: 2 }),
    );
    expect(redis).toBeInstanceOf(Cluster);
    expect(isCluster(redis)).toBe(true);
    const owners = new Set<number>();
    for (let i = 0; i < 12; i++) {
      await redis.set(`factory:${i}`, String(i));
      owners.add((await cluster.masterOf(`factory:${i}`)).port);
    }
    expect(owners.size).toBe(3);
    expect(await redis.get('factory:7')).toBe('7');
  });

  it('duplicates a cluster connection as a cluster, with the override and sharded subscribers', async () => {
    const redis = track(
      createRedis({ url: REDIS_URL, clusterNodes: cluster.seeds }, { maxRetriesPerRequest: 2 }),
    );
    const sub = track(duplicateRedis(redis, { maxRetriesPerRequest: null, shardedSubscribers: true }));
    expect(sub).toBeInstanceOf(Cluster);
    const options = (sub as Cluster).options;
    expect(options.shardedSubscribers).toBe(true);
    expect(options.redisOptions?.maxRetriesPerRequest).toBeNull();
    const got = new Promise<string>((resolve) => sub.on('smessage', (_c: string, m: string) => resolve(m)));
    await sub.ssubscribe('factory:{s}:live');
    await redis.spublish('factory:{s}:live', 'hello');
    expect(await got).toBe('hello');
  });
});
