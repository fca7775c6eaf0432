import type { TurnStreamsOptions } from './turn-streams.ts';

/** The replication-wait settings of a service's environment (`REDIS_WAIT_*`). */
export interface ReplicationEnv {
  REDIS_WAIT_REPLICAS?: number | undefined;
  REDIS_WAIT_TIMEOUT_MS: number;
}

/** Logs a batch released before its replicas acknowledged it (a pino logger fits). */
export interface ReplicationLog {
  warn(obj: object, msg: string): void;
}

/**
 * The `createTurnStreams` options every service derives from its environment: the replicas a publish
 * waits for (unset: the streams' own default for the connection kind), how long, and the
 * `stream.replication_wait_timed_out` warning when they did not answer in time.
 */
export function replicationOptions(
  env: ReplicationEnv,
  log: ReplicationLog,
): Pick<TurnStreamsOptions, 'waitReplicas' | 'waitTimeoutMs' | 'onReplicationShort'> {
  return {
    ...(env.REDIS_WAIT_REPLICAS !== undefined ? { waitReplicas: env.REDIS_WAIT_REPLICAS } : {}),
    waitTimeoutMs: env.REDIS_WAIT_TIMEOUT_MS,
    onReplicationShort: (short) =>
      log.warn(
        { event: 'stream.replication_wait_timed_out', ...short },
        'replicas did not acknowledge in time',
      ),
  };
}
