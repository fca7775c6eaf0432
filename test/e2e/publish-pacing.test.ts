import { sampleValue } from '@turnstream/telemetry/testing';
import { waitFor } from '@turnstream/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { logOf, type ReceivedEvent, renderReply, turnStreams } from '../support/stream-events.ts';
import { systemFixture } from '../support/system-fixture.ts';
import { createConversation, postMessage, waitForTurn } from '../support/turns.ts';
import { workerWithMetrics } from '../support/worker-metrics.ts';

// A worker holding more streams merges each stream's text for longer, so its publishes a second stay
// near PUBLISH_BUDGET_PER_SECOND: fewer, larger chunk events, the reply's text unchanged. With a
// budget of 10 a second, one running turn merges for 100 ms and four for 400 ms (the widest here);
// without pacing (a 0 ms window) every delta of the simulator's stream would be its own event.
// PUBLISH_PACING=count (the default, set here to say so) applies the budget's window whatever the
// worker's loop load (`load` keeps this idle worker at the base window: publish-pacing-load.test.ts).
const BUDGET = 10;
const MAX_WINDOW_MS = 400;
const sys = systemFixture({
  workers: 0,
  workerEnv: {
    COALESCE_WINDOW_MS: '0',
    COALESCE_WINDOW_MAX_MS: String(MAX_WINDOW_MS),
    PUBLISH_BUDGET_PER_SECOND: String(BUDGET),
    PUBLISH_PACING: 'count',
  },
});
const metrics = workerWithMetrics(sys);
let streams: ReturnType<typeof turnStreams>;
beforeAll(() => {
  streams = turnStreams(sys);
});

const windowGauge = async () => sampleValue(await metrics.scrape(), 'turnstream_coalesce_window_seconds');

/** Milliseconds between consecutive chunk events of a turn, after its first chunk (Redis ids are times). */
function chunkGaps(log: ReceivedEvent[]): number[] {
  const times = log.filter((e) => e.type === 'chunk').map((e) => Number(e.id.split('-')[0]));
  return times.slice(2).map((t, i) => t - times[i + 1]!);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Chunk events of a turn, and how many a stream of that length may have with merges `windowMs` apart. */
function chunkBudget(log: ReceivedEvent[], windowMs: number) {
  const times = log.filter((e) => e.type === 'chunk').map((e) => Number(e.id.split('-')[0]));
  return { chunks: times.length, allowed: 2 + Math.ceil((times.at(-1)! - times[0]!) / windowMs) };
}

async function runTurns(n: number, words: number, delayMs: number) {
  const posted = await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const conv = await createConversation(sys);
      const messageId = await postMessage(sys, conv, `[[sim words=${words} delay=${delayMs}]] story ${i}`);
      return { conv, messageId };
    }),
  );
  return posted;
}

async function finished(turn: { conv: string; messageId: string }) {
  const { user, reply } = await waitForTurn(sys, turn.conv, turn.messageId);
  expect(user.status).toBe('completed');
  const log = await logOf(streams, turn.conv, turn.messageId);
  // Merging never changes the text a client renders.
  expect(renderReply(log, turn.messageId)).toBe(reply!.content);
  return log;
}

describe('publish pacing', () => {
  it('one running turn merges its deltas for 1000 / budget ms', async () => {
    const [turn] = await runTurns(1, 40, 20);
    const log = await finished(turn!);
    const gaps = chunkGaps(log);
    expect(gaps.length).toBeGreaterThan(2);
    // About 800 ms of deltas every 20 ms in events about 100 ms apart (unpaced: 20 ms apart).
    expect(median(gaps)).toBeGreaterThanOrEqual(80);
    const { chunks, allowed } = chunkBudget(log, 80);
    expect(chunks).toBeLessThanOrEqual(allowed);
  });

  it('four running turns merge for longer, up to the widest window, and the gauge shows it', async () => {
    expect(await windowGauge()).toBe(0);
    const turns = await runTurns(4, 40, 40);
    // While all four run, each merges for 4 x 1000 / budget = 400 ms.
    await waitFor(async () => (await windowGauge()) === MAX_WINDOW_MS / 1000, {
      message: 'the coalesce window gauge at the widest window',
    });
    const logs = await Promise.all(turns.map(finished));
    const gaps = logs.flatMap(chunkGaps);
    // About 1.6 s of deltas every 40 ms in events about 400 ms apart once all four ran.
    expect(median(gaps)).toBeGreaterThanOrEqual(300);
    for (const log of logs) {
      const { chunks, allowed } = chunkBudget(log, 100);
      expect(chunks).toBeLessThanOrEqual(allowed);
    }
    // No turn running: back to the base window.
    await waitFor(async () => (await windowGauge()) === 0, { message: 'the gauge back at the base window' });
  });
});
