import type { TurnEvent } from '@turnstream/contracts';
import { deleteKeys } from '@turnstream/testkit';
import { afterAll } from 'vitest';
import { createEventSubscriber, createTurnStreams, type EventSubscriber } from '../src/index.ts';
import { connections, testPrefix } from './helpers.ts';

/**
 * Per test file: its own key prefix, a connection, TurnStreams and a shared EventSubscriber,
 * all closed (and the keys deleted) in afterAll. Subscribers pushed to `extraSubscribers`
 * are closed too.
 */
export function subscriberFixture() {
  const conns = connections();
  const prefix = testPrefix();
  const redis = conns.open();
  const streams = createTurnStreams({ redis, keyPrefix: prefix });
  const subscriber = createEventSubscriber({ redis, streams });
  const extraSubscribers: EventSubscriber[] = [];

  afterAll(async () => {
    await subscriber.close();
    await Promise.all(extraSubscribers.map((s) => s.close()));
    await deleteKeys(redis, `${prefix}:*`);
    await conns.closeAll();
  });

  return {
    conns,
    prefix,
    redis,
    streams,
    subscriber,
    extraSubscribers,

    /** Publishes and returns the ids; throws when the fence is refused. */
    async publishOk(conversationId: string, fence: number | null, events: TurnEvent[]): Promise<string[]> {
      const result = await streams.publish(conversationId, fence, events);
      if (!result.ok) throw new Error(`refused: fence ${result.currentFence}`);
      return result.ids;
    },

    /** Number of subscribers of a (non-sharded) channel. */
    async numsub(channel: string): Promise<number> {
      const reply = (await redis.call('PUBSUB', 'NUMSUB', channel)) as [string, number];
      return Number(reply[1]);
    },

    /** Id of the subscribe-mode connection named `name`, if any. */
    async pubsubClientId(name: string): Promise<string | undefined> {
      const clients = (await redis.client('LIST')) as string;
      const line = clients.split('\n').find((l) => l.includes(` name=${name} `) && /\bsub=[1-9]/.test(l));
      return line?.match(/^id=(\d+)/)?.[1];
    },
  };
}
