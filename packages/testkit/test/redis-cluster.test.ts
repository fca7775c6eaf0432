import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisCluster, startRedisCluster } from '../src/index.ts';

describe('startRedisCluster', () => {
  let cluster: RedisCluster;
  let client: Cluster;

  beforeAll(async () => {
    cluster = await startRedisCluster();
    client = new Cluster(cluster.seeds, { retryDelayOnFailover: 300, maxRedirections: 128 });
    // Wait for the slot table first: a keyless command sent while the client is still connecting goes to
    // any seed, and the seeds not listed in the first CLUSTER SLOTS answer (a replica whose role has not
    // reached that node's view yet) are dropped from the pool with the command on them ("Connection is
    // closed").
    await new Promise<void>((resolve, reject) => {
      client.once('ready', resolve);
      client.once('end', () => reject(new Error('the cluster client ended before it was ready')));
    });
  }, 90_000);

  afterAll(async () => {
    client?.disconnect();
    await cluster?.stop();
  });

  it('runs three masters with a replica each, spreading the slots', async () => {
    const nodes = String(await client.cluster('NODES'))
      .trim()
      .split('\n');
    expect(nodes).toHaveLength(6);
    expect(nodes.filter((l) => l.includes('master'))).toHaveLength(3);
    const owners = new Set<number>();
    for (const key of ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'])
      owners.add((await cluster.masterOf(key)).port);
    expect(owners.size).toBeGreaterThan(1);
  });

  it('promotes the replica of a killed master and keeps the replicated data', async () => {
    // WAIT is keyless: sent alone, the Cluster client would send it to any node. In one pipeline with the
    // SET it goes to the master that took the write, and answers once that master's replica has it.
    const replies = await client.pipeline().set('failover:{k}', 'kept').wait(1, 5_000).exec();
    expect(replies?.map(([error, reply]) => error ?? reply)).toEqual(['OK', 1]);
    const killed = await cluster.killMasterOf('failover:{k}');
    const owner = await cluster.waitForFailover(killed);
    expect(owner.port).not.toBe(killed.port);
    expect(await client.get('failover:{k}')).toBe('kept');
    await cluster.restart(killed.port);
    await cluster.waitUntilHealthy();
    expect((await cluster.masterOfSlot(killed.slot)).port).toBe(owner.port);
  }, 60_000);
});
