/**
 * The host's CPU budget for a held-streams run: whether the processes sharing the machine could fit
 * in its cores at all while the streams flow at the simulator's pace.
 *
 * A held run's latency targets ask Turnstream to deliver as fast as a direct SDK client does. On a
 * machine where the simulator, the load client, the API, the workers, Postgres and Redis share the
 * cores, that is only possible while all of them together use no more CPU than the cores give in the
 * time the direct run took: past that, every process queues for a core and the first chunks and gaps
 * grow with the queue, whatever Turnstream does.
 */
export interface HeldCpuInput {
  /** CPU seconds of each process group during the Turnstream run (api, worker, postgres, redis, sim, client). */
  cpuSeconds: Record<string, number>;
  /** CPU seconds of the direct run's groups (client, sim). */
  directCpuSeconds: Record<string, number>;
  turnstreamWallMs: number;
  directWallMs: number;
  /** Streams x their nominal length in seconds. */
  streamSeconds: number;
  /** Worker processes the run had (each runs its turns on one JavaScript thread). */
  workers: number;
}

export interface HeldCpuBudget {
  /** Cores busy on average during the Turnstream run (every measured process). */
  coresUsed: number;
  /** Cores busy on average during the direct run (its client and the simulator). */
  directCoresUsed: number;
  /**
   * The most CPU per stream-second Turnstream's own processes (API, workers, Postgres, Redis) could
   * use for the six processes to fit in `cores` cores during the direct run's wall time, after the
   * simulator and the client took what they took in the Turnstream run. Negative: they alone do not fit.
   */
  systemBudgetMsPerStreamSecond: number;
  /** What Turnstream's own processes used, in the same unit. */
  systemUsedMsPerStreamSecond: number;
  /** Each worker's average share of one core during the run: near 1, its thread is the queue. */
  workerThreadBusy: number;
}

const SYSTEM = ['api', 'worker', 'postgres', 'redis'];
const LOAD = ['sim', 'client'];

const sum = (values: Record<string, number>, names: string[]) =>
  names.reduce((s, n) => s + (values[n] ?? 0), 0);
const round2 = (x: number) => Math.round(x * 100) / 100;

export function heldCpuBudget(x: HeldCpuInput, cores: number): HeldCpuBudget {
  const all = sum(x.cpuSeconds, [...SYSTEM, ...LOAD]);
  const available = cores * (x.directWallMs / 1000) - sum(x.cpuSeconds, LOAD);
  return {
    coresUsed: round2(all / (x.turnstreamWallMs / 1000)),
    directCoresUsed: round2(sum(x.directCpuSeconds, LOAD) / (x.directWallMs / 1000)),
    systemBudgetMsPerStreamSecond: round2((available / x.streamSeconds) * 1000),
    systemUsedMsPerStreamSecond: round2((sum(x.cpuSeconds, SYSTEM) / x.streamSeconds) * 1000),
    workerThreadBusy: round2((x.cpuSeconds.worker ?? 0) / x.workers / (x.turnstreamWallMs / 1000)),
  };
}
