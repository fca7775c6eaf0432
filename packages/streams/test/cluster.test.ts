import { randomUUID } from 'node:crypto';
import { createRedis, type RedisClient } from '@turnstream/config';
import type { DeliveredEvent } from '@turnstream/contracts';
import {
  type RedisCluster,
  recordUnhandledRejections,
  startRedisCluster,
  waitFor,
} from '@turnstream/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createEventSubscriber,
  createTurnStreams,
  type EventSubscriber,
  type ReplicationShort,
  type TurnStreams,
} from '../src/index.ts';
import { chunk, completed, iteratorOf, take, texts, untilTerminal } from './helpers.ts';

// A real Redis Cluster (three masters, three replicas) on private ports, so that a master can be killed.
let cluster: RedisCluster;
let redis: RedisClient;
let streams: TurnStreams;
let subscriber: EventSubscriber;
const errors: Error[] = [];
const shorts: ReplicationShort[] = [];

beforeAll(async () => {
  cluster = await startRedisCluster();
  redis = createRedis({ url: 'redis://', clusterNodes: cluster.seeds }, { maxRetriesPerRequest: null });
  redis.on('error', () => {}); // connections are killed under it (the subscriber's own report to onError)
  // A wait longer than the default 500 ms: on a loaded machine a healthy replica's acknowledgement can
  // take longer than that, and this file asserts which waits fell short, not how fast replicas answer.
  streams = createTurnStreams({
    redis,
    keyPrefix: 'ts',
    waitTimeoutMs: 5_000,
    onReplicationShort: (s) => shorts.push(s),
  });
  subscriber = createEventSubscriber({ redis, streams, onError: (error) => errors.push(error) });
}, 90_000);

afterAll(async () => {
  await subscriber?.close();
  redis?.disconnect();
  await cluster?.stop();
});

/** One conversation id per master: `count` ids whose keys are served by each of the three masters. */
async function conversationsOnEveryMaster(perMaster = 1): Promise<Map<number, string[]>> {
  const byMaster = new Map<number, string[]>();
  while ([...byMaster.values()].filter((ids) => ids.length >= perMaster).length < 3) {
    const id = randomUUID();
    const { port } = await cluster.masterOf(streams.keys(id).log);
    const ids = byMaster.get(port) ?? [];
    if (ids.length < perMaster) ids.push(id);
    byMaster.set(port, ids);
  }
  return byMaster;
}

/** Whether the node on `port` has a subscriber of the sharded channel `channel` (`PUBSUB SHARDNUMSUB`). */
function shardSubscribers(port: number, channel: string): Promise<boolean> {
  return cluster.withNode(
    port,
    async (r) => Number(((await r.call('PUBSUB', 'SHARDNUMSUB', channel)) as [string, number])[1]) > 0,
  );
}

describe('TurnStreams on a Redis Cluster', () => {
  it('uses sharded pub/sub, replication waits and no cross-conversation pipeline there', () => {
    expect(streams.sharded).toBe(true);
    expect(streams.waitReplicas).toBe(1);
    expect(() => createTurnStreams({ redis, sharded: false })).toThrow(/sharded/);
    expect(() => createTurnStreams({ redis, pipelinePublishes: true })).toThrow(/pipeline/);
  });

  it('publishes, delivers live and resumes on every shard, publishes of one loop turn on several nodes', async () => {
    const ids = [...(await conversationsOnEveryMaster()).values()].flat();
    const subscriptions = ids.map((id) => subscriber.subscribe(id));
    await Promise.all(subscriptions.map((s) => s.ready));
    // Made in one loop turn: conversations on three masters, so one pipeline could not carry them.
    const results = await Promise.all(
      ids.flatMap((id) => [streams.publish(id, 1, [chunk('m1', 'a'), chunk('m1', 'b')])]),
    );
    expect(results.every((r) => r.ok)).toBe(true);
    await Promise.all(ids.map((id) => streams.publish(id, 1, [completed('m1', 'ab')])));
    for (const [i, id] of ids.entries()) {
      const live = await untilTerminal(iteratorOf(subscriptions[i]!));
      expect(texts(live)).toEqual(['a', 'b', 'turn.completed']);
      const resumed = await streams.read(id, { after: live[0]!.id });
      expect(resumed.map((e) => e.id)).toEqual(live.slice(1).map((e) => e.id));
      expect(await streams.resumeCheck(id, live[0]!.id)).toEqual({ kind: 'continue' });
      expect(await streams.lastId(id)).toBe(live.at(-1)!.id);
    }
  });

  it('a repeated publish batch is applied once (its batch record shares the conversation slot)', async () => {
    const id = randomUUID();
    const k = streams.keys(id);
    expect(await cluster.keySlot(`${k.fence}:batches:writer`)).toBe(await cluster.keySlot(k.log));
    expect(await cluster.keySlot(k.ends)).toBe(await cluster.keySlot(k.log));
    expect(await cluster.keySlot(k.channel)).toBe(await cluster.keySlot(k.log));
    expect((await streams.publish(id, 2, [chunk('m', 'x')])).ok).toBe(true);
    expect(await streams.publish(id, 1, [chunk('m', 'stale')])).toMatchObject({ ok: false, currentFence: 2 });
    expect(texts(await streams.read(id))).toEqual(['x']);
  });

  it('events published while a shard subscriber connection is down are read from the log', async () => {
    const id = randomUUID();
    const subscription = subscriber.subscribe(id);
    await subscription.ready;
    expect((await streams.publish(id, 1, [chunk('m1', 'before')])).ok).toBe(true);
    const { port } = await cluster.masterOf(streams.keys(id).log);
    // Drop the subscriber's connection to that master, then publish at once, before it is back.
    const killed = await cluster.withNode(port, (r) => r.call('CLIENT', 'KILL', 'TYPE', 'pubsub'));
    expect(Number(killed)).toBeGreaterThan(0);
    expect((await streams.publish(id, 1, [chunk('m1', 'while down')])).ok).toBe(true);
    await waitFor(() => shardSubscribers(port, streams.keys(id).channel), {
      message: 'the channel subscribed again',
    });
    expect((await streams.publish(id, 1, [completed('m1')])).ok).toBe(true);
    const events = await untilTerminal(iteratorOf(subscription));
    expect(texts(events)).toEqual(['before', 'while down', 'turn.completed']);
  });

  /**
   * After `disrupt`, the subscription hears the conversation's events again, the subscriber has not
   * given up, and nothing was rejected unhandled (that would end the API).
   */
  async function hearsAgainAfter(disrupt: () => Promise<void>): Promise<void> {
    const unhandled = recordUnhandledRejections();
    try {
      const id = randomUUID();
      const subscription = subscriber.subscribe(id);
      await subscription.ready;
      const { port } = await cluster.masterOf(streams.keys(id).log);
      await disrupt();
      await waitFor(() => shardSubscribers(port, streams.keys(id).channel), {
        message: 'the channel subscribed again',
      });
      expect((await streams.publish(id, 1, [chunk('m1', 'after')])).ok).toBe(true);
      expect((await streams.publish(id, 1, [completed('m1')])).ok).toBe(true);
      expect(texts(await untilTerminal(iteratorOf(subscription)))).toEqual(['after', 'turn.completed']);
      expect(subscriber.failure).toBeNull();
      expect(unhandled.reasons).toEqual([]);
    } finally {
      unhandled.stop();
    }
  }

  it('subscribes again after its shard subscriber connections are killed over and over, nothing unhandled', async () => {
    // ioredis replaces an ended sharded subscriber connection and subscribes it again itself
    // (ClusterSubscriberGroup.reset, then _resubscribe: the result handled); the subscriber does too on
    // 'subscribersReady' (see createEventSubscriber). Most of those SSUBSCRIBEs are lost with their
    // connections here.
    await hearsAgainAfter(async () => {
      expect(await cluster.churnSubscribers()).toBeGreaterThanOrEqual(5);
    });
  });

  it('subscribes again after every connection to every node dropped for a second (the Cluster reconnects)', async () => {
    // Every node failing CLUSTER SLOTS makes the Cluster reconnect (disconnect(true)), stopping the
    // sharded subscribers, one of them often still connecting. ioredis 6.0.0 then lost that connect's
    // promise, so its subscriber group's reset never ended and no sharded subscriber was made again:
    // patched (patches/ioredis@6.0.0.patch).
    await hearsAgainAfter(async () => {
      await cluster.killClients(['pubsub', 'normal'], 1000);
    });
  });

  it("a publish waits for its slot's replica (WAIT on the master that wrote it), then releases the batch", async () => {
    const id = randomUUID();
    const log = streams.keys(id).log;
    expect((await streams.publish(id, 1, [chunk('m1', 'warm-up')])).ok).toBe(true); // scripts loaded
    const { port } = await cluster.masterOf(log);
    const replicaPort = await cluster.withNode(port, async (r) =>
      Number(/^slave0:.*port=(\d+)/m.exec(await r.info('replication'))?.[1]),
    );
    const replica = cluster.nodes.find((n) => n.port === replicaPort)!;
    // Reads on a Cluster connection of their own: the WAIT holds the writer's connection to that master.
    const readerRedis = createRedis({ url: 'redis://', clusterNodes: cluster.seeds });
    const reader = createTurnStreams({ redis: readerRedis, keyPrefix: 'ts' });
    const slow = createTurnStreams({ redis, keyPrefix: 'ts', waitTimeoutMs: 60_000 });
    replica.proc.pause();
    try {
      let settled = false;
      const publishing = slow.publish(id, 1, [chunk('m1', 'held')]).finally(() => {
        settled = true;
      });
      await waitFor(async () => (await cluster.withNode(port, (r) => r.xlen(log))) === 2, {
        message: 'the batch to be appended',
      });
      expect(settled).toBe(false);
      expect(texts(await reader.read(id))).toEqual(['warm-up']);
      replica.proc.resume();
      expect((await publishing).ok).toBe(true);
      const onReplica = await cluster.withNode(replicaPort, async (r) => {
        await r.call('READONLY'); // a replica answers reads of its master's slots only when asked so
        return r.xlen(log);
      });
      expect(onReplica).toBe(2);
      expect(texts(await reader.read(id))).toEqual(['warm-up', 'held']);
    } finally {
      replica.proc.resume();
      readerRedis.disconnect();
    }
  });

  it('readers reconstruct every event across a master failover (live, and resuming with the last id)', async () => {
    const byMaster = await conversationsOnEveryMaster(2);
    const ids = [...byMaster.values()].flat();
    const victim = [...byMaster.values()][0]![0]!;
    const subscriptions = new Map(ids.map((id) => [id, subscriber.subscribe(id)]));
    await Promise.all([...subscriptions.values()].map((s) => s.ready));
    const published = new Map<string, string[]>(ids.map((id) => [id, []]));
    const firstIds = new Map<string, string>();
    let stop = false;
    let failedOver = false;
    const publishers = ids.map(async (id) => {
      let n = 0;
      // Publish until the failover is over and a few more batches went through the new master.
      for (let after = 0; !stop || after < 5; n++) {
        const text = `${n};`;
        const result = await streams.publish(id, 1, [chunk('m1', text)]);
        expect(result.ok).toBe(true);
        if (result.ok && !firstIds.has(id)) firstIds.set(id, result.ids[0]!);
        published.get(id)!.push(text);
        if (failedOver) after++;
      }
      await streams.publish(id, 1, [completed('m1')]);
    });
    await waitFor(() => ids.every((id) => published.get(id)!.length >= 5), {
      message: 'publishing under way',
    });
    const killed = await cluster.killMasterOf(streams.keys(victim).log);
    const promoted = await cluster.waitForFailover(killed);
    failedOver = true;
    stop = true;
    await Promise.all(publishers);
    expect(promoted.port).not.toBe(killed.port);
    for (const id of ids) {
      const expected = [...published.get(id)!, 'turn.completed'];
      const live = await untilTerminal(iteratorOf(subscriptions.get(id)!));
      expect(texts(live), `live ${id}`).toEqual(expected);
      // A reader that had only the first event resumes after it (Last-Event-ID).
      const resumed = subscriber.subscribe(id, { after: firstIds.get(id)! });
      const rest: DeliveredEvent[] = await take(iteratorOf(resumed), expected.length - 1);
      expect(texts(rest), `resumed ${id}`).toEqual(expected.slice(1));
      resumed.close();
    }
    const victimSubscription = subscriptions.get(victim)!;
    expect(victimSubscription.ended).toBe(false);
    // Every wait was answered in time but, at most once, the first on the promoted master: a master first
    // heard from is asked for a replica; it has none, says so, and is asked for none after that.
    const promotedLogs = new Set(byMaster.get(killed.port)!.map((id) => streams.keys(id).log));
    expect(shorts.filter((s) => !promotedLogs.has(s.log))).toEqual([]);
    expect(shorts.length).toBeLessThanOrEqual(1);
  }, 120_000);
});
