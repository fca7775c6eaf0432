import { type ManagedProcess, type RedisServer, startRedisServer } from '@turnstream/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventStream, isTerminal, logOf, turnStreams } from '../support/stream-events.ts';
import type { SystemOptions } from '../support/system.ts';
import { systemFixture } from '../support/system-fixture.ts';
import { createConversation, postMessage, waitForTurn } from '../support/turns.ts';

// The whole system on a private append-only redis-server that is killed and restarted: an event stream
// opened on the real API while Redis is down (its catch-up read fails) goes on once Redis is back.
let server: RedisServer;
const options: SystemOptions = {};
beforeAll(async () => {
  server = await startRedisServer({ appendOnly: true });
  options.redisUrl = server.url;
});
afterAll(async () => {
  await server?.stop();
}); // registered before the system's: runs after it stopped
const sys = systemFixture(options);

/**
 * Kills Redis, opens `late` while it is down (the API's channel for its conversation is already
 * subscribed, so it reads the log at once and that read fails) and restarts Redis once `api` reported
 * the failed read (retried) or gave up on the stream.
 */
async function openDuringOutage(api: ManagedProcess, late: EventStream): Promise<void> {
  sys.redis.on('error', () => {}); // the test's own connection is refused while Redis is down
  await server.restart('kill', async () => {
    await late.open();
    await api.waitForLog(
      (l) => l.event === 'sse.log_read_retried' || l.event === 'sse.stream_failed',
      20_000,
      'the catch-up read to fail',
    );
  });
}

describe('SSE across a Redis restart', () => {
  it('a stream whose catch-up read fails while Redis is down delivers the log once Redis is back', async () => {
    const conv = await createConversation(sys);
    const messageId = await postMessage(sys, conv, '[[sim words=12]] before the restart');
    await waitForTurn(sys, conv, messageId);
    const live = new EventStream(sys, conv);
    await live.readUntil(isTerminal); // the API's channel for this conversation is subscribed
    const api = sys.apis[0]!.proc;
    const late = new EventStream(sys, conv);
    await openDuringOutage(api, late);
    expect(api.eventsNamed('sse.stream_failed')).toEqual([]);
    const received = await late.readUntil(isTerminal);
    const logged = await logOf(turnStreams(sys), conv, messageId);
    expect(received.map((e) => [e.id, e.type])).toEqual(logged.map((e) => [e.id, e.type]));
    live.close();
    late.close();
  });

  it('an API started with SSE_READ_RETRY_MS=0 ends such a stream at its first failed read, with stream.error', async () => {
    const conv = await createConversation(sys);
    const messageId = await postMessage(sys, conv, '[[sim words=3]] before the restart');
    await waitForTurn(sys, conv, messageId);
    const { proc: api } = await sys.startApi({ SSE_READ_RETRY_MS: '0' });
    const apiIndex = sys.apis.length - 1;
    const live = new EventStream(sys, conv, { apiIndex });
    await live.readUntil(isTerminal); // this API's channel for the conversation is subscribed
    const late = new EventStream(sys, conv, { apiIndex });
    await openDuringOutage(api, late);
    // Not retried (the default would retry for 10 s): the stream said it could not go on.
    expect(api.eventsNamed('sse.log_read_retried')).toEqual([]);
    // Nothing delivered yet, so the frame names no id to resume after.
    const ending = await late.reader.next();
    expect(ending?.event).toBe('stream.error');
    expect(JSON.parse(ending!.data!)).toMatchObject({ code: 'stream_unavailable', lastEventId: null });
    live.close();
    late.close();
  });
});
