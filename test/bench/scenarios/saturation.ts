import type { BenchContext } from '../lib/context.ts';
import { Driver } from '../lib/driver.ts';
import { CpuMeter } from '../lib/proc.ts';
import { ratio } from '../lib/stats.ts';
import type { TurnRunSummary } from '../lib/turns.ts';
import { systemTotal } from './held.ts';
import { directLoop, turnstreamLoop, warmUp } from './turn-runs.ts';

export interface SaturationPoint {
  workers: number;
  concurrency: number;
  turnstream: TurnRunSummary;
  direct: TurnRunSummary;
  bullmq: { jobs: number; jobsPerSec: number; cpuSeconds: Record<string, number> };
  turnsPerSec: number;
  directStreamsPerSec: number;
  /** Turnstream turns/s over direct SDK streams/s. */
  ratioToDirect: number | null;
  ratioToBullmq: number | null;
  /** CPU ms per completed turn, per process group and Turnstream's total (API, workers, Postgres, Redis). */
  cpuMsPerTurn: Record<string, number>;
  directCpuMsPerTurn: Record<string, number>;
}

const perTurn = (cpu: Record<string, { cpuSeconds: number }>, turns: number) =>
  Object.fromEntries(
    Object.entries(cpu).map(([k, v]) => [k, turns ? Math.round((v.cpuSeconds / turns) * 1e5) / 100 : 0]),
  );

/**
 * Scenario 3: saturation. Closed loops of `concurrency` clients with a zero-delay simulator (40-word
 * replies), with 1 and 2 workers, against direct SDK streams and BullMQ no-op jobs at the same concurrency.
 */
export async function saturation(ctx: BenchContext): Promise<SaturationPoint[]> {
  const { stack, profile } = ctx;
  const { concurrency, durationMs } = profile.saturation;
  const points: SaturationPoint[] = [];
  for (const workers of profile.saturation.workers) {
    await stack.setWorkers(workers, 100);
    await warmUp(ctx, concurrency);
    const opts = { concurrency, durationMs, words: 40, delayMs: 0 };
    const ts = await turnstreamLoop(ctx, opts);
    const direct = await directLoop(ctx, opts);

    const noop = new Driver('bullmq-noop', 'bullmq-noop.ts');
    const meter = new CpuMeter([
      { name: 'client', pids: () => [noop.pid] },
      { name: 'redis', pids: () => [stack.redisPid] },
    ]);
    await meter.begin();
    const bull = await noop.call<{ jobs: number; jobsPerSec: number }>('run', {
      redisUrl: stack.redis.url,
      prefix: `${stack.redisPrefix}noop`,
      jobs: profile.saturation.noopJobs,
      concurrency,
    });
    const bullCpu = await meter.end();
    await noop.stop();

    const cpuMsPerTurn = perTurn(ts.cpu, ts.run.completed);
    cpuMsPerTurn.turnstream = systemTotal(cpuMsPerTurn);
    const point: SaturationPoint = {
      workers,
      concurrency,
      turnstream: ts.run,
      direct: direct.run,
      bullmq: {
        ...bull,
        cpuSeconds: Object.fromEntries(Object.entries(bullCpu).map(([k, v]) => [k, v.cpuSeconds])),
      },
      turnsPerSec: ts.run.turnsPerSec,
      directStreamsPerSec: direct.run.turnsPerSec,
      ratioToDirect: ratio(ts.run.turnsPerSec, direct.run.turnsPerSec),
      ratioToBullmq: ratio(ts.run.turnsPerSec, bull.jobsPerSec),
      cpuMsPerTurn,
      directCpuMsPerTurn: perTurn(direct.cpu, direct.run.completed),
    };
    ctx.log(
      `saturation, ${workers} worker(s) @${concurrency}: ${point.turnsPerSec} turns/s vs direct ${point.directStreamsPerSec}/s, bullmq ${bull.jobsPerSec}/s; cpu ${cpuMsPerTurn.turnstream} ms/turn`,
    );
    points.push(point);
  }
  return points;
}
