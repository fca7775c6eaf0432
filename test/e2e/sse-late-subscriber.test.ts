import { waitFor } from '@turnstream/testkit';
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
import {
  createConversation,
  type HistoryMessage,
  history,
  postMessage,
  waitForTurn,
} from '../support/turns.ts';

// Issue 5: a client that subscribes mid-turn still gets the whole turn (log first, then live, no
// duplicate at the seam); and the reply is readable from the history while it streams.
// No coalescing window: a chunk is published every few milliseconds, so subscriptions often start
// while events are being published (the seam between the log read and live delivery).
const sys = systemFixture({ workerEnv: { COALESCE_WINDOW_MS: '0' } });
let streams: ReturnType<typeof turnStreams>;
beforeAll(async () => {
  streams = turnStreams(sys);
});

const SUBSCRIBERS_PER_POINT = 4;
const wordCount = (text: string) => (text.trim() === '' ? 0 : text.trim().split(/\s+/).length);

describe('a late subscriber', () => {
  it('subscribing after 10%, 20%, ... 90% of the reply (half of it, among others) still receives every event once, in order', async () => {
    const conv = await createConversation(sys);
    const words = 80;
    const messageId = await postMessage(
      sys,
      conv,
      `[[sim words=${words} delay=20]] a story for late readers`,
    );

    const late: Array<{ snapshot: ReceivedEvent[]; reading: Promise<ReceivedEvent[]>; stream: EventStream }> =
      [];
    try {
      for (const fraction of [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]) {
        // Wait until that share of the reply's words is in the log, then subscribe without an id.
        const snapshot = await waitFor(
          async () => {
            const log = await logOf(streams, conv, messageId);
            return wordCount(renderReply(log, messageId)) >= words * fraction ? log : null;
          },
          { intervalMs: 10, message: `${fraction * 100}% of the reply in the log` },
        );
        expect(snapshot.some(isTerminal), 'the turn is still running').toBe(false);
        for (let n = 0; n < SUBSCRIBERS_PER_POINT; n++) {
          const stream = new EventStream(sys, conv, { messageId, untilTurn: true });
          late.push({ snapshot, stream, reading: stream.readUntil(() => false) });
        }
      }
      const results = await Promise.all(late.map((l) => l.reading));
      const log = await logOf(streams, conv, messageId);
      expect(log[0]?.type).toBe('turn.queued');
      expect(log.at(-1)?.type).toBe('turn.completed');
      const { reply } = await waitForTurn(sys, conv, messageId);
      for (const [i, got] of results.entries()) {
        // Everything, from turn.queued to turn.completed, exactly as logged: once each, in order.
        expect(got).toEqual(log);
        for (let j = 1; j < got.length; j++)
          expect(compareEventIds(got[j - 1]!.id, got[j]!.id)).toBeLessThan(0);
        // It did subscribe mid-turn: part of what it got was published after its snapshot.
        const { snapshot } = late[i]!;
        expect(snapshot.filter((e) => e.type === 'chunk').length).toBeGreaterThan(0);
        expect(got.length).toBeGreaterThan(snapshot.length);
        expect(renderReply(got, messageId)).toBe(reply!.content);
      }
      expect(wordCount(reply!.content)).toBe(words);
    } finally {
      for (const l of late) l.stream.close();
    }
  });
});

describe('live persistence', () => {
  it('GET /messages shows the streaming reply growing (a prefix of the final one), then the completed reply', async () => {
    const conv = await createConversation(sys);
    const messageId = await postMessage(sys, conv, '[[sim words=70 delay=25]] write it down as you go');
    const seen: HistoryMessage[] = [];
    let user: HistoryMessage | undefined;
    // Poll the history through the turn, keeping every distinct reply state it shows.
    await waitFor(
      async () => {
        const msgs = await history(sys, conv);
        user = msgs.find((m) => m.id === messageId);
        const reply = msgs.find((m) => m.replyTo === messageId);
        const prev = seen.at(-1);
        if (reply && (reply.status !== prev?.status || reply.content !== prev?.content)) seen.push(reply);
        return user?.status === 'completed' && reply?.status === 'completed';
      },
      { intervalMs: 20, timeoutMs: 30_000, message: 'the turn to complete' },
    );
    const final = seen.at(-1)!;
    expect(final.status).toBe('completed');
    expect(wordCount(final.content)).toBe(70);

    const streaming = seen.filter((r) => r.status === 'streaming');
    const partials = streaming.filter((r) => r.content.length > 0);
    // The partial reply was visible, and more than once while it grew. (The last partial may
    // already hold the whole text when a write lands just before the completion.)
    expect(partials.length).toBeGreaterThan(1);
    expect(partials[0]!.content.length).toBeLessThan(final.content.length);
    let previous = '';
    for (const p of partials) {
      expect(p.role).toBe('assistant');
      expect(p.id).toBe(final.id);
      expect(final.content.startsWith(p.content), `partial ${JSON.stringify(p.content)}`).toBe(true);
      expect(p.content.startsWith(previous)).toBe(true);
      previous = p.content;
    }
    // Nothing but streaming states before the completed one.
    expect(seen.slice(0, -1).every((r) => r.status === 'streaming')).toBe(true);
    expect(user?.status).toBe('completed');
  });
});
