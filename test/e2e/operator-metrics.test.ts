import { type Sample, sampleValue } from '@turnstream/telemetry/testing';
import { waitFor } from '@turnstream/testkit';
import { describe, expect, it } from 'vitest';
import { addFaults } from '../support/sim-faults.ts';
import { systemFixture } from '../support/system-fixture.ts';
import { createConversation, history, postMessage, waitForTurn } from '../support/turns.ts';
import { workerWithMetrics } from '../support/worker-metrics.ts';

// A scripted run on the real system, then the worker's /metrics must tell exactly what happened.
describe('worker metrics after a scripted run', () => {
  const sys = systemFixture({ workers: 0 });
  const metrics = workerWithMetrics(sys);

  const addFault = (rule: Record<string, unknown>) => addFaults(sys, [rule]);

  it('counts completions, a session recovery, a rate limit, a fatal error and a cancel exactly', async () => {
    expect((await fetch(`${metrics.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${metrics.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({
      status: 'ready',
      checks: { postgres: 'ok', redis: 'ok', bullmq: 'ok' },
    });

    // Two completions, the second after a session recovery.
    const a = await createConversation(sys, { thinking: { budgetTokens: 1024 } });
    expect((await waitForTurn(sys, a, await postMessage(sys, a, 'first'))).user.status).toBe('completed');
    await sys.sim_('/__sim/rotate-signing-key', { method: 'POST' });
    expect((await waitForTurn(sys, a, await postMessage(sys, a, 'second'))).user.status).toBe('completed');
    // One rate limit, then a completion.
    await addFault({ fault: 'rate_limited', times: 1, retryAfterMs: 1000, match: { contains: 'RATELIMIT' } });
    const b = await createConversation(sys);
    expect((await waitForTurn(sys, b, await postMessage(sys, b, 'RATELIMIT me'))).user.status).toBe(
      'completed',
    );
    // One fatal error.
    await addFault({ fault: 'permission', times: 1, match: { contains: 'FATAL' } });
    const c = await createConversation(sys);
    expect((await waitForTurn(sys, c, await postMessage(sys, c, 'FATAL me'))).user.status).toBe('failed');
    // One cancelled turn, mid-stream.
    const d = await createConversation(sys);
    const long = await postMessage(sys, d, 'long [[sim words=400 delay=20]]');
    // Cancelled once text has streamed (its partial is stored), so the run counts a first chunk.
    await waitFor(async () =>
      (await history(sys, d)).some((m) => m.replyTo === long && m.status === 'streaming' && m.content),
    );
    expect((await sys.api('POST', `/v1/conversations/${d}/messages/${long}/cancel`)).status).toBeLessThan(
      300,
    );
    expect((await waitForTurn(sys, d, long)).user.status).toBe('cancelled');

    const turns = (s: Sample[], labels: Record<string, string>) =>
      sampleValue(s, 'turnstream_turns_total', labels);
    const samples = await waitFor(
      async () => {
        const s = await metrics.scrape();
        // A turn is counted when its outcome is known and leaves the active gauge a moment later
        // (after it releases its lease): wait for both.
        const settled =
          turns(s, { outcome: 'cancelled' }) === 1 &&
          turns(s, { outcome: 'completed' }) === 3 &&
          sampleValue(s, 'turnstream_active_streams') === 0;
        return settled ? s : null;
      },
      { message: 'metrics of every turn' },
    );
    expect(turns(samples, { outcome: 'completed', error_class: 'none' })).toBe(3);
    expect(turns(samples, { outcome: 'failed', error_class: 'fatal', code: 'claude_permission' })).toBe(1);
    expect(turns(samples, { outcome: 'failed' })).toBe(1);
    expect(turns(samples, { outcome: 'rate_limited' })).toBe(1);
    expect(turns(samples, { outcome: 'cancelled', error_class: 'cancelled' })).toBe(1);
    expect(turns(samples, { outcome: 'retrying' })).toBe(0);
    expect(turns(samples, { outcome: 'superseded' })).toBe(0);
    expect(sampleValue(samples, 'turnstream_session_clears_total')).toBe(1);
    expect(sampleValue(samples, 'turnstream_session_recoveries_total')).toBe(1);
    expect(sampleValue(samples, 'turnstream_rate_limit_waits_total')).toBe(1);
    expect(sampleValue(samples, 'turnstream_rate_limit_wait_seconds_count')).toBe(1);
    expect(sampleValue(samples, 'turnstream_fence_rejections_total')).toBe(0);
    expect(sampleValue(samples, 'turnstream_turn_retries_total')).toBe(0);
    expect(sampleValue(samples, 'turnstream_turn_duration_seconds_count', { outcome: 'completed' })).toBe(3);
    // Runs that streamed text: the three completions (the recovered one once) and the cancelled one.
    expect(sampleValue(samples, 'turnstream_turn_first_chunk_seconds_count')).toBe(4);
    // Every message's first start (5 messages; the rate-limited one started twice).
    expect(sampleValue(samples, 'turnstream_turn_queue_wait_seconds_count')).toBe(5);
    // Claude calls: 2 + (400 then 200) + (429 then 200) + 403 + the cancelled one.
    expect(sampleValue(samples, 'turnstream_claude_call_duration_seconds_count', { result: 'ok' })).toBe(3);
    expect(sampleValue(samples, 'turnstream_claude_call_duration_seconds_count')).toBe(7);
    expect(
      sampleValue(samples, 'turnstream_claude_call_duration_seconds_count', { result: 'session_invalid' }),
    ).toBe(1);
    expect(
      sampleValue(samples, 'turnstream_claude_call_duration_seconds_count', { result: 'rate_limited' }),
    ).toBe(1);
    expect(sampleValue(samples, 'turnstream_claude_call_duration_seconds_count', { result: 'fatal' })).toBe(
      1,
    );
    expect(
      sampleValue(samples, 'turnstream_claude_call_duration_seconds_count', { result: 'cancelled' }),
    ).toBe(1);
    expect(sampleValue(samples, 'turnstream_active_streams')).toBe(0);

    // Tokens equal the usage the completed turns stored.
    const [usage] = await sys.tdb.sql`
      select sum((usage->>'inputTokens')::int) as input, sum((usage->>'outputTokens')::int) as output,
             sum((usage->>'cacheReadInputTokens')::int) as cache_read,
             sum((usage->>'cacheCreationInputTokens')::int) as cache_write
      from turn_attempts where usage is not null`;
    const tokens = (kind: string) =>
      sampleValue(samples, 'turnstream_tokens_total', { kind, model: 'claude-sonnet-4-6' });
    expect(tokens('input')).toBe(Number(usage!.input));
    expect(tokens('output')).toBe(Number(usage!.output));
    expect(tokens('cache_read')).toBe(Number(usage!.cache_read));
    expect(tokens('cache_write')).toBe(Number(usage!.cache_write));
    expect(tokens('output')).toBeGreaterThan(0);
  });
});
