import { TurnsClient } from '@turnstream/contracts';
import { type RedisCluster, startRedisCluster } from '@turnstream/testkit';
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestSystem } from '../support/system.ts';
import { waitForTurn } from '../support/turns.ts';

// The client package on a Redis Cluster: given a `Cluster`, TurnsClient uses the hash-tagged BullMQ
// prefix the API and workers use there (the prefix is passed untagged, as BULL_PREFIX is).
let cluster: RedisCluster;
let sys: TestSystem;
let connection: Cluster;
let client: TurnsClient;

beforeAll(async () => {
  cluster = await startRedisCluster();
  sys = await new TestSystem({ redisClusterNodes: cluster.seedList }).start();
  connection = new Cluster(cluster.seeds, { redisOptions: { maxRetriesPerRequest: null } });
  client = new TurnsClient({ connection, prefix: sys.bullPrefix, keyPrefix: sys.redisPrefix });
}, 180_000);

afterAll(async () => {
  await client?.close();
  connection?.disconnect();
  await sys?.stop();
  await cluster?.stop();
}, 60_000);

describe('TurnsClient on a Redis Cluster', () => {
  it('enqueues through the tagged intake queue, and follows the reply through the log', async () => {
    const sent = await client.enqueue({
      tenantId: sys.tenantId,
      externalConversationId: `crm-${sys.redisPrefix}`,
      content: '[[sim words=20 delay=2]] through the client package',
    });
    expect(await connection.exists(`${sys.effectiveBullPrefix}:turns-intake:meta`)).toBe(1);
    expect(await connection.exists(`${sys.bullPrefix}:turns-intake:meta`)).toBe(0);
    const outcome = await client.waitForReply(sent.messageId, { timeoutMs: 60_000 });
    expect(outcome.status).toBe('completed');
    const { reply } = await waitForTurn(sys, sent.conversationId, sent.messageId);
    expect(reply?.status).toBe('completed');
    const events: string[] = [];
    for await (const e of client.events({ messageId: sent.messageId })) {
      events.push(e.event.type);
      if (e.event.type === 'turn.completed') break;
    }
    expect(events[0]).toBe('turn.queued');
    expect(events.at(-1)).toBe('turn.completed');
  }, 120_000);
});
