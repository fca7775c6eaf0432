import { beforeAll, describe, expect, it } from 'vitest';
import {
  compareEventIds,
  EventStream,
  isTerminal,
  logOf,
  type ReceivedEvent,
  renderReply,
  turnStreams,
} from '../support/stream-events.ts';
import { systemFixture } from '../support/system-fixture.ts';
import { createConversation, postMessage, waitForTurn } from '../support/turns.ts';

// Issue 5: any API replica serves any conversation: two API processes fan out the same events,
// with the same ids, in the same order, and a client may resume on the other replica.
const sys = systemFixture({ apis: 2 });
let streams: ReturnType<typeof turnStreams>;
beforeAll(async () => {
  streams = turnStreams(sys);
});

function expectIncreasing(events: ReceivedEvent[]): void {
  for (let i = 1; i < events.length; i++)
    expect(compareEventIds(events[i - 1]!.id, events[i]!.id), `${events[i]!.id}`).toBeLessThan(0);
}

describe('SSE across API replicas', () => {
  it('a client on each replica receives the same events with the same ids, turn after turn', async () => {
    const conv = await createConversation(sys);
    let resumeFrom: string | undefined;
    // Two turns, posted through a different replica each time; both clients connect before posting
    // (the second time resuming after the first turn's terminal event).
    for (const [turn, postVia] of [
      [0, 1],
      [1, 0],
    ] as const) {
      const opts = { untilTurn: true, ...(resumeFrom ? { lastEventId: resumeFrom } : {}) };
      const clients = [
        new EventStream(sys, conv, { ...opts, apiIndex: 0 }),
        new EventStream(sys, conv, { ...opts, apiIndex: 1 }),
      ];
      try {
        await Promise.all(clients.map((c) => c.open()));
        const messageId = await postMessage(
          sys,
          conv,
          `[[sim words=60 delay=8]] replicas turn ${turn}`,
          {},
          postVia,
        );
        // ?until=turn: each response ends after the turn's terminal event.
        const [a, b] = await Promise.all(clients.map((c) => c.readUntil(() => false)));
        expect(a!.map((e) => e.type)[0]).toBe('turn.queued');
        expect(a!.at(-1)?.type).toBe('turn.completed');
        expect(a!.filter((e) => e.type === 'chunk').length).toBeGreaterThan(3);
        expect(a!.every((e) => e.data.messageId === messageId)).toBe(true);
        // Same events, same ids, same order on both replicas; and exactly what the log holds.
        expect(b).toEqual(a);
        expectIncreasing(a!);
        expect(a).toEqual(await logOf(streams, conv, messageId));

        const { reply } = await waitForTurn(sys, conv, messageId);
        expect(renderReply(a!, messageId)).toBe(reply!.content);
        resumeFrom = a!.at(-1)!.id;
      } finally {
        for (const c of clients) c.close();
      }
    }
  });

  it('a client that loses its replica resumes on the other one with Last-Event-ID, without loss or repeat', async () => {
    const conv = await createConversation(sys);
    const messageId = await postMessage(sys, conv, '[[sim words=80 delay=10]] hop between replicas');
    const received: ReceivedEvent[] = [];
    let lastId: string | undefined;
    let api = 0;
    let hops = 0;
    while (!received.some(isTerminal)) {
      const stream = new EventStream(sys, conv, {
        messageId,
        untilTurn: true,
        apiIndex: api,
        ...(lastId ? { lastEventId: lastId } : {}),
      });
      try {
        // Three events per connection, then the connection drops; the next one goes to the other replica.
        for (let n = 0; n < 3; n++) {
          const e = await stream.next();
          if (!e) break;
          received.push(e);
          lastId = e.id;
          if (isTerminal(e)) break;
        }
      } finally {
        stream.close();
      }
      api = 1 - api;
      hops++;
    }
    expect(hops).toBeGreaterThan(2);
    const ids = received.map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    expectIncreasing(received);
    expect(received).toEqual(await logOf(streams, conv, messageId));
    const { reply } = await waitForTurn(sys, conv, messageId);
    expect(received.at(-1)?.type).toBe('turn.completed');
    expect(renderReply(received, messageId)).toBe(reply!.content);
  });
});
