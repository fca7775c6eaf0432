import { z } from 'zod';
import { fleetSettingsShape } from './fleet.ts';
import { envBoolean, optionalString } from './parse.ts';
import { bullPrefixFor, clusterNodesEnv, type RedisTarget } from './redis.ts';

/** Default local services (the README's quick start assumes these). */
export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/turnstream';
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
/** How long a stream publish waits for its replicas before releasing the batch anyway. */
export const DEFAULT_REDIS_WAIT_TIMEOUT_MS = 500;

/** A non-negative integer env var with a default (`min` bounds it below). */
export function envInt(def: number, min = 0) {
  return z.coerce.number().int().min(min).default(def);
}

/** A TCP port env var, unset unless given (0: any free port). */
export function envPort() {
  return z.coerce.number().int().min(0).max(65_535).optional();
}

/** Where a process finds Postgres and Redis: the API, the workers and the commands. */
export const connectionShape = {
  DATABASE_URL: z
    .string()
    .min(1)
    .default(DEFAULT_DATABASE_URL)
    .describe(
      'Postgres connection string. The database is created at migration when missing (if the role may).',
    ),
  DB_PREPARE: envBoolean
    .default(true)
    .describe(
      'Use prepared statements (postgres.js `prepare`). Set `false` behind PgBouncer in transaction mode before 1.21 (or without `max_prepared_statements`).',
    ),
  REDIS_URL: z
    .string()
    .min(1)
    .default(DEFAULT_REDIS_URL)
    .describe('Redis connection string (`rediss://` for TLS). Needs `maxmemory-policy noeviction`.'),
  REDIS_CLUSTER_NODES: clusterNodesEnv.meta({
    description:
      'Redis Cluster seed nodes, `host:port` comma separated: every connection is then an ioredis `Cluster` (user, password and `rediss://` of `REDIS_URL` apply to each node), `BULL_PREFIX` gets a hash tag and live events use sharded pub/sub (docs/deployment.md). Unset: the single server at `REDIS_URL`.',
    docDefault: 'unset',
  }),
};

/** The Redis a parsed environment points at (see `createRedis`). */
export function redisTargetOf(env: { REDIS_URL: string; REDIS_CLUSTER_NODES?: RedisTarget['clusterNodes'] }) {
  return { url: env.REDIS_URL, clusterNodes: env.REDIS_CLUSTER_NODES } satisfies RedisTarget;
}

/**
 * How a process uses Redis, from its environment: the target, the BullMQ prefix in effect (hash-tagged
 * on a Cluster, see `bullPrefixFor`) and whether live events use sharded pub/sub (always on a Cluster).
 */
export function redisLayoutOf(env: {
  REDIS_URL: string;
  REDIS_CLUSTER_NODES?: RedisTarget['clusterNodes'];
  BULL_PREFIX: string;
  REDIS_SHARDED_PUBSUB: boolean;
}) {
  const target = redisTargetOf(env);
  const cluster = (target.clusterNodes?.length ?? 0) > 0;
  return {
    target,
    cluster,
    bullPrefix: bullPrefixFor(env.BULL_PREFIX, cluster),
    shardedPubSub: env.REDIS_SHARDED_PUBSUB || cluster,
  };
}

/**
 * The settings the API and the workers share: the fleet settings, the connections, logging, probes and
 * tracing. Each app extends this schema with its own.
 */
export const serviceEnvSchema = z.object({
  ...fleetSettingsShape,
  ...connectionShape,
  REDIS_WAIT_REPLICAS: z.coerce.number().int().min(0).optional().meta({
    description:
      'Replicas that must have a batch of events before it is released to readers (published live, readable from the log): each publish `WAIT`s for them, so a failover cannot take back an event a reader saw. At most as many as the master has connected are awaited; 0 releases at once. Waiting (> 0) or not must be the same on every process (docs/deployment.md#redis-cluster-durability).',
    docDefault: '1 with `REDIS_CLUSTER_NODES`, else 0',
  }),
  REDIS_WAIT_TIMEOUT_MS: envInt(DEFAULT_REDIS_WAIT_TIMEOUT_MS, 1).describe(
    'How long a publish waits for `REDIS_WAIT_REPLICAS`; past it the batch is released anyway (logged `stream.replication_wait_timed_out`).',
  ),
  MIGRATE_ON_START: envBoolean
    .default(true)
    .describe(
      'Apply pending database migrations at start (under an advisory lock). `false` where a migration job runs first.',
    ),
  LOG_LEVEL: z
    .enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'])
    .default('info')
    .describe('pino log level.'),
  METRICS_PORT: envPort().describe(
    'Port of the probe and scrape listener (`/healthz`, `/readyz`, `/metrics`, no auth). Unset: none; 0: any free port.',
  ),
  METRICS_HOST: z
    .string()
    .min(1)
    .default('127.0.0.1')
    .describe('Interface of the `METRICS_PORT` listener (`0.0.0.0` in containers).'),
  RUNTIME_STATS_INTERVAL_MS: envInt(30_000, 0).describe(
    'Window of the `runtime.stats_sampled` log line (event-loop delay, memory, open work); 0 = off.',
  ),
  OTEL_EXPORTER_OTLP_ENDPOINT: optionalString().describe(
    'OTLP/HTTP endpoint for traces (spans go to `<endpoint>/v1/traces`). Unset: tracing off.',
  ),
  OTEL_BSP_SCHEDULE_DELAY: envInt(1000, 1).describe('Delay between span batch exports, in ms.'),
});
export type ServiceEnv = z.infer<typeof serviceEnvSchema>;
