import { sampleValue } from '@turnstream/telemetry/testing';
import { waitFor } from '@turnstream/testkit';
import { describe, expect, it } from 'vitest';
import { FAST_TAKEOVER_ENV } from '../support/system.ts';
import { systemFixture } from '../support/system-fixture.ts';
import { createConversation, postMessage, waitForTurn } from '../support/turns.ts';
import { workerMetrics } from '../support/worker-metrics.ts';

// A worker frozen mid-turn: the one that takes the turn over counts a lost attempt taken over, the
// frozen one, back, counts its fence rejection and a superseded turn.
const sys = systemFixture({ workers: 0, workerEnv: FAST_TAKEOVER_ENV });

describe('take-over metrics', () => {
  it('counts the lost attempt taken over, the fence rejection and the superseded turn', async () => {
    const conv = await createConversation(sys);
    const zombieMetrics = await workerMetrics();
    const zombie = await sys.startWorker(zombieMetrics.env);
    const messageId = await postMessage(sys, conv, '[[sim words=80 delay=40]] a long story');
    await zombie.waitForLog((l) => l.event === 'turn.stream_started' && l.messageId === messageId);
    zombie.signal('SIGSTOP');

    const winnerMetrics = await workerMetrics();
    await sys.startWorker(winnerMetrics.env);
    expect((await waitForTurn(sys, conv, messageId, 60_000)).user.status).toBe('completed');
    zombie.signal('SIGCONT');
    await zombie.waitForLog((l) => l.event === 'turn.fence_rejected' && l.messageId === messageId, 60_000);

    const winner = await waitFor(async () => {
      const s = await winnerMetrics.scrape();
      return sampleValue(s, 'turnstream_turns_total', { outcome: 'completed' }) === 1 ? s : null;
    });
    expect(sampleValue(winner, 'turnstream_lost_attempts_total')).toBe(1);
    expect(sampleValue(winner, 'turnstream_fence_rejections_total')).toBe(0);
    const frozen = await waitFor(async () => {
      const s = await zombieMetrics.scrape();
      return sampleValue(s, 'turnstream_turns_total', { outcome: 'superseded' }) === 1 ? s : null;
    });
    expect(sampleValue(frozen, 'turnstream_fence_rejections_total', { stage: 'turn' })).toBe(1);
    expect(sampleValue(frozen, 'turnstream_turns_total', { outcome: 'completed' })).toBe(0);
    expect(sampleValue(frozen, 'turnstream_active_streams')).toBe(0);
  });
});
