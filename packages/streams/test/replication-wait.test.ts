import { conversationKeys } from '@turnstream/contracts';
import { type RedisServer, startRedisServer, waitFor } from '@turnstream/testkit';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createEventSubscriber,
  createTurnStreams,
  type EventSubscriber,
  type ReplicationShort,
  type TurnStreams,
} from '../src/index.ts';
import { definePublishCommand, defineReleaseCommand } from '../src/publish-script.ts';
import { chunk, connections, iteratorOf, take, testPrefix, texts } from './helpers.ts';

// A primary with one replica (private servers: the replica is frozen with SIGSTOP). With
// `waitReplicas` a batch is released to readers (live and log reads) only once the replica
// acknowledged it, so a failover to that replica cannot take back an event a reader saw.
const conns = connections();
const prefix = testPrefix();
let primary: RedisServer;
let replica: RedisServer;
let redis: Redis;
/** Reads on a connection of their own: a `WAIT` in flight holds every later command of its connection. */
let reader: TurnStreams;
let replicaConn: Redis;
let raw: Redis;
let subscriber: EventSubscriber;
const shorts: ReplicationShort[] = [];

/** TurnStreams on the primary that wait for its replica for at most `waitTimeoutMs`. */
function waiting(waitTimeoutMs: number): TurnStreams {
  return createTurnStreams({
    redis,
    keyPrefix: prefix,
    waitReplicas: 1,
    waitTimeoutMs,
    onReplicationShort: (short) => shorts.push(short),
  });
}

beforeAll(async () => {
  primary = await startRedisServer({ args: ['--repl-diskless-sync-delay', '0'] });
  replica = await startRedisServer({ args: ['--replicaof', '127.0.0.1', String(primary.port)] });
  redis = conns.open(primary.url);
  replicaConn = conns.open(replica.url);
  raw = conns.open(primary.url);
  reader = createTurnStreams({ redis: raw, keyPrefix: prefix });
  await waitFor(async () => /master_link_status:up/.test(await replicaConn.info('replication')), {
    message: 'the replica to sync',
  });
  subscriber = createEventSubscriber({ redis: conns.open(primary.url), streams: reader });
  // The scripts are loaded on the primary, as in steady operation (a first EVALSHA answers NOSCRIPT,
  // and its pipeline's WAIT would wait out the frozen replica before the script is sent again).
  await waiting(5_000).publish(crypto.randomUUID(), 1, [chunk('m0', 'warm-up')]);
}, 60_000);

afterAll(async () => {
  replica?.proc.resume();
  await subscriber?.close();
  await conns.closeAll();
  await replica?.stop();
  await primary?.stop();
});

describe('publishing with a replication wait', () => {
  it('releases a batch (live and to log reads) only once the replica has it', async () => {
    const streams = waiting(60_000);
    const conv = crypto.randomUUID();
    const subscription = subscriber.subscribe(conv);
    await subscription.ready;
    replica.proc.pause();
    let settled = false;
    const publishing = streams.publish(conv, 1, [chunk('m1', 'held')]).finally(() => {
      settled = true;
    });
    // Appended on the primary, not acknowledged by the frozen replica: not released.
    await waitFor(async () => (await raw.xlen(conversationKeys(prefix, conv).log)) === 1, {
      message: 'the batch to be appended',
    });
    expect(settled).toBe(false);
    expect(await reader.read(conv)).toEqual([]);
    expect(await reader.lastId(conv)).toBeNull();
    expect(subscription.buffered).toBe(0);

    replica.proc.resume();
    const result = await publishing;
    expect(result.ok).toBe(true);
    // Released now, and the replica had it before.
    expect(await replicaConn.xlen(conversationKeys(prefix, conv).log)).toBe(1);
    expect(texts(await reader.read(conv))).toEqual(['held']);
    expect(texts(await take(iteratorOf(subscription), 1))).toEqual(['held']);
    subscription.close();
  });

  it('releases a batch whose wait timed out, and reports the short wait', async () => {
    const streams = waiting(200);
    const conv = crypto.randomUUID();
    shorts.length = 0;
    replica.proc.pause();
    try {
      const result = await streams.publish(conv, 1, [chunk('m1', 'late')]);
      expect(result.ok).toBe(true);
    } finally {
      replica.proc.resume();
    }
    expect(shorts).toEqual([
      { log: conversationKeys(prefix, conv).log, batches: 1, asked: 1, acknowledged: 0 },
    ]);
    expect(texts(await streams.read(conv))).toEqual(['late']);
  });

  it('sends a batch again when its connection drops during the WAIT after the append, and logs it once', async () => {
    const streams = waiting(60_000);
    const conv = crypto.randomUUID();
    const log = conversationKeys(prefix, conv).log;
    replica.proc.pause();
    let publishing: ReturnType<TurnStreams['publish']>;
    try {
      publishing = streams.publish(conv, 1, [chunk('m1', 'once')]);
      // Appended and answered; the WAIT after it holds the connection (the replica is frozen).
      await waitFor(async () => (await raw.xlen(log)) === 1, { message: 'the batch to be appended' });
      const waiting = await waitFor(
        async () => {
          const clients = (await raw.call('CLIENT', 'LIST', 'TYPE', 'normal')) as string;
          return /^id=(\d+) .*\bcmd=wait\b/m.exec(clients)?.[1];
        },
        { message: 'the WAIT to block' },
      );
      // A failover or a network drop: the WAIT is aborted by the client ("Command aborted due to
      // connection close"), while the append's reply had arrived.
      await raw.call('CLIENT', 'KILL', 'ID', waiting);
    } finally {
      replica.proc.resume();
    }
    expect((await publishing).ok).toBe(true);
    expect(await raw.xlen(log)).toBe(1);
    expect(texts(await reader.read(conv))).toEqual(['once']);
  });

  it('releases in log order, each entry once, whichever writer releases first', async () => {
    const conv = crypto.randomUUID();
    const k = conversationKeys(prefix, conv);
    const append = definePublishCommand(redis);
    const release = defineReleaseCommand(redis);
    const batch = (n: number, text: string) =>
      append(
        k.log,
        k.fence,
        `${k.fence}:batches:w${n}`,
        k.ends,
        k.released,
        '',
        '1000',
        '60',
        k.channel,
        '',
        '',
        '1',
        '1',
        JSON.stringify(chunk('m1', text)),
      );
    const first = await batch(1, 'a');
    const second = await batch(2, 'b');
    if (first[0] !== 1 || second[0] !== 1) throw new Error('not appended');
    const [a] = first[1];
    const [b] = second[1];
    const sub = conns.open(primary.url);
    const messages: string[] = [];
    sub.on('message', (_channel: string, message: string) => messages.push(message));
    await sub.subscribe(k.channel);

    // The second writer's wait ended first: its release carries the first writer's batch too, in order.
    expect(await release(k.log, k.released, b!, b!, '60', k.channel, '0')).toBe(2);
    expect(await release(k.log, k.released, a!, a!, '60', k.channel, '0')).toBe(0);
    await waitFor(() => messages.length === 1, { message: 'the live message' });
    expect(JSON.parse(messages[0]!).map((e: { id: string }) => e.id)).toEqual([a, b]);
    expect(texts(await createTurnStreams({ redis, keyPrefix: prefix }).read(conv))).toEqual(['a', 'b']);
  });

  it('without a wait, releases each batch as it is appended', async () => {
    const streams = createTurnStreams({ redis, keyPrefix: prefix });
    expect(streams.waitReplicas).toBe(0);
    const conv = crypto.randomUUID();
    replica.proc.pause();
    try {
      await streams.publish(conv, 1, [chunk('m1', 'at once')]);
      expect(texts(await reader.read(conv))).toEqual(['at once']);
      expect(await raw.get(conversationKeys(prefix, conv).released)).toBe(await reader.lastId(conv));
    } finally {
      replica.proc.resume();
    }
  });
});
