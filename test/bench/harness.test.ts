import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { PUBLISH_KEY_COUNT, PUBLISH_LUA } from '@turnstream/streams';
import { waitFor } from '@turnstream/testkit';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { heldCpuBudget } from './lib/budget.ts';
import { type GcEvent, parseGcLine, summarizeGc } from './lib/gc.ts';
import { historyFlag, historyMessages } from './lib/history.ts';
import { CpuMeter, cpuSeconds } from './lib/proc.ts';
import { followSse } from './lib/sse-follow.ts';
import { mergedLagP99, percentile, summarize } from './lib/stats.ts';
import { areaOf } from './profile-summary.ts';
import { cpuAgainstReference } from './report.ts';
import { publishScriptWithoutMarker } from './scenarios/publish-marker.ts';

// The benchmark's own arithmetic and process handling (`pnpm bench` itself is too slow for npm test).
describe('bench harness', () => {
  it('takes nearest-rank percentiles', () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(sorted, 50)).toBe(50);
    expect(percentile(sorted, 99)).toBe(99);
    expect(percentile([], 50)).toBeNull();
    expect(summarize([3, 1, 2])).toMatchObject({ n: 3, p50: 2, max: 3, mean: 2 });
  });

  it('merges event-loop windows into one p99 dominated by the slow window', () => {
    const quiet = { p50: 0.1, p99: 1, max: 2, count: 900 };
    const busy = { p50: 20, p99: 80, max: 100, count: 100 };
    // 1% of 1,000 samples = 10, all in the busy window's upper half.
    const p99 = mergedLagP99([quiet, busy])!;
    expect(p99).toBeGreaterThan(20);
    expect(p99).toBeLessThan(100);
    expect(mergedLagP99([quiet])).toBeLessThanOrEqual(2);
    expect(mergedLagP99([])).toBeNull();
  });

  it("counts a child process's CPU time", async () => {
    const child = spawn(process.execPath, ['-e', 'const t = Date.now(); while (Date.now() - t < 300) {}']);
    const meter = new CpuMeter([{ name: 'child', pids: () => [child.pid!] }], 50);
    await meter.begin();
    await new Promise((r) => child.once('exit', r));
    const usage = await meter.end();
    expect(usage.child!.cpuSeconds).toBeGreaterThan(0.05);
    expect(cpuSeconds(child.pid!)).toBeNull();
  });

  it("reads V8's --trace-gc-nvp lines: scavenges, a forced mark-compact, promoted bytes", async () => {
    const script =
      'let k = []; for (let i = 0; i < 2e6; i++) { k.push({ i }); if (k.length > 1e5) k = []; } gc();';
    const child = spawn(process.execPath, ['--trace-gc-nvp', '--expose-gc', '-e', script]);
    const events: GcEvent[] = [];
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (raw) => {
      const e = parseGcLine(raw, Date.now());
      if (e) events.push(e);
    });
    await new Promise((r) => child.once('exit', r));
    const gc = summarizeGc(events, 0, Date.now())!;
    expect(gc.scavenges).toBeGreaterThan(0);
    expect(gc.markCompacts).toBeGreaterThan(0);
    expect(gc.promotedMb).toBeGreaterThan(0);
    // 2e6 objects of at least 16 bytes each.
    expect(gc.allocatedMb).toBeGreaterThan(30);
    expect(parseGcLine('{"event":"runtime.stats_sampled"}', 0)).toBeUndefined();
    expect(summarizeGc(events, 0, 1)).toBeNull();
  });

  it('builds a follow-up history of n exchanges, alternating user and assistant, the same each time', () => {
    expect(historyMessages(0, 40)).toEqual([]);
    const h = historyMessages(10, 40);
    expect(h).toHaveLength(20);
    expect(h.map((m) => m.role)).toEqual(
      Array.from({ length: 20 }, (_, i) => (i % 2 ? 'assistant' : 'user')),
    );
    expect(h[0]!.content).toEqual([{ type: 'text', text: 'Earlier turn 1: tell me something' }]);
    expect(h[19]!.content[0].text.split(' ')).toHaveLength(40);
    // Not a simulator directive: the reply is planned from the new message only.
    expect(JSON.stringify(h)).not.toContain('[[sim');
    expect(historyMessages(10, 40)).toEqual(h);
  });

  it('reads --first-chunk-history as a whole number of exchanges', () => {
    expect(historyFlag('0')).toBe(0);
    expect(historyFlag('20')).toBe(20);
    for (const bad of [undefined, '', '-1', '2.5', 'ten'])
      expect(() => historyFlag(bad)).toThrow(/whole number/);
  });

  it("judges a CPU target against the reference after dividing each run by its own direct baseline's CPU", () => {
    // Half the reference's milliseconds on a host where the direct baseline also costs half: the
    // same ratio to direct as then, so not met; the same milliseconds on a host twice as slow: met.
    const faster = cpuAgainstReference('t', 0.5, { now: 2, nowDirect: 1, ref: 4, refDirect: 2 });
    expect(faster.met).toBe(false);
    expect(faster.value).toContain('(0.50 x)');
    const slowerHost = cpuAgainstReference('t', 0.5, { now: 4, nowDirect: 4, ref: 4, refDirect: 2 });
    expect(slowerHost.met).toBe(true);
    expect(slowerHost.value).toContain('= 0.50 x');
    expect(cpuAgainstReference('t', 0.5, { now: 1, nowDirect: null, ref: 4, refDirect: 2 }).met).toBeNull();
  });

  it("budgets a held run's CPU: what the six processes used against what the cores give in the direct run's time", () => {
    const run = {
      // 10 s of Turnstream's four, 6 s of simulator and client, over a 10 s run; 1,000 stream-seconds.
      cpuSeconds: { api: 2, worker: 5, postgres: 1, redis: 2, sim: 4, client: 2 },
      directCpuSeconds: { client: 5, sim: 4 },
      turnstreamWallMs: 10_000,
      directWallMs: 9_000,
      streamSeconds: 1_000,
      workers: 1,
    };
    const b = heldCpuBudget(run, 2);
    expect(b.coresUsed).toBe(1.6);
    expect(b.directCoresUsed).toBe(1);
    // 2 cores x 9 s = 18 CPU-s, minus the simulator's and client's 6: 12 s over 1,000 stream-seconds.
    expect(b.systemBudgetMsPerStreamSecond).toBe(12);
    expect(b.systemUsedMsPerStreamSecond).toBe(10);
    expect(b.workerThreadBusy).toBe(0.5);
    expect(heldCpuBudget({ ...run, workers: 2 }, 2).workerThreadBusy).toBe(0.25);
    // On one core the simulator and client alone take 6 of 9 s: 3 ms per stream-second left.
    expect(heldCpuBudget(run, 1).systemBudgetMsPerStreamSecond).toBe(3);
  });

  it('names the package a profiled script belongs to', () => {
    expect(areaOf('file:///x/node_modules/.pnpm/a@1/node_modules/drizzle-orm/sql/sql.js', 'f')).toBe(
      'drizzle-orm',
    );
    expect(areaOf('file:///x/node_modules/@anthropic-ai/sdk/core/streaming.mjs', 'f')).toBe(
      '@anthropic-ai/sdk',
    );
    expect(areaOf('file:///repo/packages/streams/src/entries.ts', 'f')).toBe('@turnstream/streams');
    expect(areaOf('node:internal/streams/writable', 'f')).toBe('node:internal');
    expect(areaOf('', '(garbage collector)')).toBe('(garbage collector)');
  });

  it('compares the publish script with the same script less its marker: a repeat appends again only without it', async () => {
    const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
    const tag = `bench-marker-${randomBytes(4).toString('hex')}:{c}`;
    const keys = [`${tag}:log`, `${tag}:fence`, `${tag}:batches`, `${tag}:ends`, `${tag}:released`];
    const args = [...keys, '1', '100', '60', `${tag}:ch`, '0', '', '1', '1', '{}'];
    try {
      for (const [name, lua] of [
        ['marked', PUBLISH_LUA],
        ['unmarked', publishScriptWithoutMarker()],
      ] as const) {
        await redis.del(`${tag}:log`, `${tag}:batches`);
        redis.defineCommand(name, { numberOfKeys: PUBLISH_KEY_COUNT, lua });
        const run = (redis as unknown as Record<string, (...a: string[]) => Promise<unknown>>)[name]!;
        await run.apply(redis, args);
        await run.apply(redis, args);
        expect([name, await redis.xlen(`${tag}:log`)]).toEqual([name, name === 'marked' ? 1 : 2]);
        expect([name, await redis.exists(`${tag}:batches`)]).toEqual([name, name === 'marked' ? 1 : 0]);
      }
    } finally {
      await redis.del(...keys);
      redis.disconnect();
    }
  });

  it('resumes a stream after stream.error and after a drop with Last-Event-ID, past a replica answering 503', async () => {
    // Each connection gets the next step: the first ends with stream.error, the second reopen is
    // refused, the third is dropped after an event, the fourth stays open.
    const seen: (string | undefined)[] = [];
    const frame = (id: string, event: string, data = '{}') => `id: ${id}\nevent: ${event}\ndata: ${data}\n\n`;
    const server = createServer((req, res) => {
      seen.push(req.headers['last-event-id'] as string | undefined);
      const step = seen.length;
      if (step === 2) return void res.writeHead(503).end();
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(': connected\n\n');
      if (step === 1) {
        res.write(frame('1', 'chunk'));
        res.end(frame('1', 'stream.error', '{"code":"stream_unavailable","lastEventId":"1"}'));
      } else if (step === 3) {
        res.write(frame('2', 'chunk'), () => res.destroy());
      } else res.write(frame('3', 'turn.completed'));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`;
    const frames: string[] = [];
    const reasons: string[] = [];
    const stream = await followSse(url, {}, (f) => frames.push(`${f.id} ${f.event}`), {
      backoffMs: 10,
      onResume: (why) => reasons.push(why),
    });
    try {
      await waitFor(() => frames.length === 3, { message: 'three events' });
      expect(frames).toEqual(['1 chunk', '2 chunk', '3 turn.completed']);
      expect(seen).toEqual([undefined, '1', '1', '2']);
      expect(reasons).toEqual(['stream.error', 'dropped']);
      expect(stream.resumes).toBe(2);
    } finally {
      stream.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
