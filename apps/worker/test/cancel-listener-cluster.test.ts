// The worker's cancel listener on a real Redis Cluster (three masters, three replicas on private
// ports). On a Cluster ioredis itself subscribes the listener again whenever its subscriber connection
// ends (ClusterSubscriber; see subscriberRedis in @turnstream/config): the listener hears cancels again
// after that connection is killed over and over (most of those resubscribes lost with their
// connections) and after the node holding it dies, and no promise is left to reject unhandled (which
// would end the worker). ioredis may warn (MaxListenersExceededWarning) while its resubscribes keep
// failing: it closes the last subscriber that worked again on each try.
import { randomUUID } from 'node:crypto';
import { createRedis, type RedisClient } from '@turnstream/config';
import { cancelChannel } from '@turnstream/contracts';
import { memoryLogger } from '@turnstream/logger/testing';
import {
  type RedisCluster,
  recordUnhandledRejections,
  startRedisCluster,
  type UnhandledRejections,
  waitFor,
} from '@turnstream/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CancelListener } from '../src/cancel-listener.ts';
import { TurnAbort } from '../src/turn-abort.ts';
import { RunningTurns } from '../src/turn-context.ts';

const prefix = `tcc${randomUUID().slice(0, 8)}`;
let cluster: RedisCluster;
let redis: RedisClient;
let unhandled: UnhandledRejections;

beforeAll(async () => {
  unhandled = recordUnhandledRejections();
  cluster = await startRedisCluster({ nodeTimeoutMs: 1500 });
  redis = createRedis({ url: 'redis://', clusterNodes: cluster.seeds }, { maxRetriesPerRequest: null });
  redis.on('error', () => {}); // its connections are killed too
}, 90_000);

afterAll(async () => {
  unhandled?.stop();
  redis?.disconnect();
  await cluster?.stop();
});

/** Resolves once the listener aborts a running turn whose cancel is published (again until heard). */
async function hearsCancels(running: RunningTurns, message: string): Promise<void> {
  const messageId = randomUUID();
  const turn = new TurnAbort();
  running.add(messageId, turn);
  try {
    await waitFor(
      async () => {
        if (turn.reason) return true;
        await redis.publish(cancelChannel(prefix), JSON.stringify({ conversationId: 'c', messageId }));
        return turn.reason !== null;
      },
      { intervalMs: 50, message },
    );
    expect(turn.reason).toBe('cancelled');
  } finally {
    running.delete(messageId);
  }
}

/** A started listener, stopped after `fn`. */
async function withListener(fn: (running: RunningTurns, listener: CancelListener) => Promise<void>) {
  const running = new RunningTurns();
  const listener = new CancelListener({ redis, prefix, running, logger: memoryLogger().logger });
  try {
    await listener.start();
    await fn(running, listener);
  } finally {
    await listener.stop();
  }
}

describe('the cancel listener on a Redis Cluster', () => {
  it('hears cancels again after its subscriber connection is killed over and over', async () => {
    await withListener(async (running, listener) => {
      await hearsCancels(running, 'a cancel before any kill');
      expect(await cluster.churnSubscribers()).toBeGreaterThanOrEqual(5);
      await hearsCancels(running, 'a cancel after the kills');
      expect(listener.failure).toBeNull();
      expect(unhandled.reasons).toEqual([]);
    });
  });

  it('hears cancels again after the node holding its subscriber connection dies', async () => {
    await withListener(async (running, listener) => {
      await hearsCancels(running, 'a cancel before the node dies');
      const port = await waitFor(() => cluster.pubsubClientNode('subscriber'), {
        message: 'the subscriber connection on a node',
      });
      await cluster.killNode(port);
      await hearsCancels(running, 'a cancel after the node died');
      expect(await cluster.pubsubClientNode('subscriber')).not.toBe(port);
      expect(listener.failure).toBeNull();
      expect(unhandled.reasons).toEqual([]);
    });
  });
});
