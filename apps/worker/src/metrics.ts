/** Counters a metrics exporter can read (the hook for the operator-dashboards issue). */
export interface WorkerMetrics {
  turnsStarted: number;
  turnsCompleted: number;
  turnsFailed: number;
  turnsCancelled: number;
  turnsRetried: number;
  sessionsCleared: number;
  sessionsRecovered: number;
  fencedOut: number;
  /** Turn durations in ms (last 1000). */
  durationsMs: number[];
  /** Time to first published chunk in ms (last 1000). */
  firstChunkMs: number[];
}

export function createWorkerMetrics(): WorkerMetrics {
  return {
    turnsStarted: 0,
    turnsCompleted: 0,
    turnsFailed: 0,
    turnsCancelled: 0,
    turnsRetried: 0,
    sessionsCleared: 0,
    sessionsRecovered: 0,
    fencedOut: 0,
    durationsMs: [],
    firstChunkMs: [],
  };
}

export function observe(list: number[], value: number): void {
  list.push(value);
  if (list.length > 1000) list.shift();
}
