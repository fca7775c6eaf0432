// Fault injection on a private redis-server: the pub/sub connection is lost with a SUBSCRIBE in flight
// and stays down until ioredis gives up on that SUBSCRIBE.
import { randomUUID } from 'node:crypto';
import { waitFor } from '@turnstream/testkit';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { chunk, completed, iteratorOf, texts, untilTerminal } from './helpers.ts';
import { outageSubscriber, privateServerFixture } from './private-server-fixture.ts';

const f = privateServerFixture();

/**
 * A connection like the API's (`maxRetriesPerRequest: 2`) whose duplicate, the subscriber's pub/sub
 * connection, records how each SUBSCRIBE it sent was settled.
 */
function baseConnection() {
  const base = new Redis({ host: '127.0.0.1', port: f.server.port, maxRetriesPerRequest: 2 });
  base.on('error', () => {}); // refused reconnects while the server is down
  const rejected: Error[] = [];
  const duplicate = base.duplicate.bind(base);
  base.duplicate = (override) => {
    const connection = duplicate(override);
    const subscribe = connection.subscribe.bind(connection) as (...channels: string[]) => Promise<unknown>;
    connection.subscribe = ((...channels: string[]) => {
      const sent = subscribe(...channels);
      sent.catch((error: Error) => rejected.push(error));
      return sent;
    }) as typeof connection.subscribe;
    return connection;
  };
  return { base, rejected };
}

describe('pub/sub outage', () => {
  it('a SUBSCRIBE lost with its connection: the subscription waits for the resubscription, then delivers', async () => {
    const { base, rejected } = baseConnection();
    const { subscriber, close } = outageSubscriber(f, { redis: base });
    try {
      const warm = subscriber.subscribe(`warm-${randomUUID()}`);
      await warm.ready; // the pub/sub connection is ready
      // Frozen server: the SUBSCRIBE below is written and never answered.
      f.server.proc.pause();
      const c = `outage-${randomUUID()}`;
      const subscription = subscriber.subscribe(c);
      const received = untilTerminal(iteratorOf(subscription));
      received.catch(() => {}); // asserted below
      // The server crashes and stays down until ioredis, out of reconnect attempts for it, rejects that
      // SUBSCRIBE: the subscription must not end over it.
      await f.server.restart('kill', async () => {
        await waitFor(() => rejected.length > 0, {
          message: 'ioredis to give up on the in-flight SUBSCRIBE',
        });
      });
      expect(rejected[0]!.name).toBe('MaxRetriesPerRequestError');

      await subscription.ready; // resubscribed on the new connection and caught up with the (empty) log
      expect(subscription.ended).toBe(false);
      await f.streams.publish(c, 1, [chunk('m1', 'after the outage'), completed('m1')]);
      expect(texts(await received)).toEqual(['after the outage', 'turn.completed']);
      expect(warm.ended).toBe(false);
      subscription.close();
    } finally {
      f.server.proc.resume();
      await close();
    }
  });
});
