import { seededRandom, waitFor } from '@turnstream/testkit';
import { beforeAll, describe, it } from 'vitest';
import { addFaults } from '../support/sim-faults.ts';
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

// Issue 5: a client that loses its SSE connection at random points and resumes with Last-Event-ID
// sees every event of the turn exactly once, in order, and renders exactly the stored reply.
const sys = systemFixture({ workerEnv: { RETRY_BACKOFF_SCALE: '0.02' } });
let streams: ReturnType<typeof turnStreams>;
beforeAll(async () => {
  streams = turnStreams(sys);
});

const SEEDS = Array.from({ length: 15 }, (_, i) => i + 1);

describe.concurrent('SSE reconnect with Last-Event-ID', () => {
  it.for(SEEDS)(
    'seed %i: the resumed event stream renders the stored reply, each event once',
    async (seed, { expect }) => {
      const rng = seededRandom(seed);
      const int = rng.int;
      const conv = await createConversation(sys);
      const tag = `reseed-${seed};`;
      const content = `[[sim words=${int(50, 90)} delay=${int(6, 14)}]] tell me something ${tag}`;
      // About a third of the seeds also lose the Claude stream mid-reply: the worker retries and
      // publishes turn.reset, which the client must honour.
      const withFault = rng.next() < 0.35;
      if (withFault)
        await addFaults(sys, [
          { fault: 'disconnect_midstream', times: 1, afterChunks: int(3, 25), match: { contains: tag } },
        ]);
      const messageId = await postMessage(sys, conv, content);

      const received: ReceivedEvent[] = [];
      let lastId: string | undefined;
      let connections = 0;
      let terminal: ReceivedEvent | undefined;
      while (!terminal) {
        connections++;
        expect(connections, `seed ${seed}: too many reconnects`).toBeLessThan(200);
        const stream = new EventStream(sys, conv, {
          messageId,
          untilTurn: true,
          ...(lastId ? { lastEventId: lastId } : {}),
        });
        const dropAfter = int(1, 8);
        let count = 0;
        try {
          for (;;) {
            const e = await stream.next();
            if (!e) {
              expect(
                terminal,
                `seed ${seed}: the server ended the stream before the turn ended`,
              ).toBeDefined();
              break;
            }
            expect(e.data.messageId).toBe(messageId);
            if (lastId)
              expect(compareEventIds(lastId, e.id), `seed ${seed}: ${e.id} after ${lastId}`).toBeLessThan(0);
            received.push(e);
            lastId = e.id;
            if (isTerminal(e))
              terminal = e; // ?until=turn: the server ends the response next
            else if (++count >= dropAfter) break;
          }
        } finally {
          stream.close();
        }
        if (terminal) break;
        // Reconnect at once (likely while the turn is live), or only once the log has moved on past
        // the last received event (the resume then reads it from the log).
        if (rng.next() < 0.5) {
          const after = lastId!;
          await waitFor(async () => (await streams.read(conv, { after })).length > 0, {
            message: `seed ${seed}: the log to grow past ${after}`,
          });
        }
      }

      expect(connections, `seed ${seed}: the client reconnected`).toBeGreaterThan(1);
      expect(terminal.type).toBe('turn.completed');
      const ids = received.map((e) => e.id);
      expect(new Set(ids).size, `seed ${seed}: an id was delivered twice`).toBe(ids.length);
      // Nothing missed either: exactly the log's events of this message.
      expect(received).toEqual(await logOf(streams, conv, messageId));
      if (withFault) expect(received.some((e) => e.type === 'turn.reset')).toBe(true);

      const { reply } = await waitForTurn(sys, conv, messageId);
      expect(reply?.status).toBe('completed');
      expect(reply!.content.length).toBeGreaterThan(0);
      expect(renderReply(received, messageId), `seed ${seed}: rendered text`).toBe(reply!.content);
      expect(terminal.data.content).toBe(reply!.content);
    },
  );
});
