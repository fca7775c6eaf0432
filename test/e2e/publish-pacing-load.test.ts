import { sampleValue } from '@turnstream/telemetry/testing';
import { waitFor } from '@turnstream/testkit';
import { DEFAULT_TURN_CONFIG } from '@turnstream/worker';
import { beforeAll, describe, expect, it } from 'vitest';
import { logOf, type ReceivedEvent, renderReply, turnStreams } from '../support/stream-events.ts';
import { systemFixture } from '../support/system-fixture.ts';
import { createConversation, postMessage, waitForTurn } from '../support/turns.ts';
import { workerWithMetrics } from '../support/worker-metrics.ts';

// With PUBLISH_PACING=load the budget's window applies only as far as the worker's event loop is
// busy. The same tiny budget as publish-pacing.test.ts (10 publishes a second: four running
// turns would merge for 400 ms in count mode), on a worker with time to spare: it keeps the base window
// (0 ms here) and every delta of the simulator's stream is its own chunk event.
const sys = systemFixture({
  workers: 0,
  workerEnv: {
    COALESCE_WINDOW_MS: '0',
    COALESCE_WINDOW_MAX_MS: '400',
    PUBLISH_BUDGET_PER_SECOND: '10',
    PUBLISH_PACING: 'load',
  },
});
const metrics = workerWithMetrics(sys);
let streams: ReturnType<typeof turnStreams>;
beforeAll(() => {
  streams = turnStreams(sys);
});

const gauge = async (name: string) => sampleValue(await metrics.scrape(), name);

const chunkTimes = (log: ReceivedEvent[]) =>
  log.filter((e) => e.type === 'chunk').map((e) => Number(e.id.split('-')[0]));

describe('publish pacing that follows the loop load', () => {
  it('keeps the base window on a worker with time to spare, however small the budget', async () => {
    const WORDS = 40;
    const turns = await Promise.all(
      Array.from({ length: 4 }, async (_, i) => {
        const conv = await createConversation(sys);
        const messageId = await postMessage(sys, conv, `[[sim words=${WORDS} delay=40]] story ${i}`);
        return { conv, messageId };
      }),
    );
    await waitFor(async () => (await gauge('turnstream_active_streams')) === 4, {
      message: 'the four turns running together',
    });
    // Four running turns, a budget of 10 a second: count mode's window would be 400 ms.
    expect(await gauge('turnstream_coalesce_window_seconds')).toBe(0);
    expect(await gauge('turnstream_publish_pacing_load')).toBeLessThan(DEFAULT_TURN_CONFIG.pacingLoadFrom);

    for (const turn of turns) {
      const { user, reply } = await waitForTurn(sys, turn.conv, turn.messageId);
      expect(user.status).toBe('completed');
      const log = await logOf(streams, turn.conv, turn.messageId);
      expect(renderReply(log, turn.messageId)).toBe(reply!.content);
      // Each delta published on its own (a 400 ms window would give about 5 events for 1.6 s of text).
      const times = chunkTimes(log);
      expect(times.length).toBeGreaterThanOrEqual(WORDS * 0.75);
    }
  });
});
