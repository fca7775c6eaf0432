import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';
import { z } from 'zod';

/**
 * The one home of Redis connections: every process (API, worker, reconciler, commands, `TurnsClient`)
 * gets its connections here, a single server (`REDIS_URL`) or a Redis Cluster (`REDIS_CLUSTER_NODES`).
 */
export type RedisClient = Redis | Cluster;

/** A seed node of a Redis Cluster. */
export interface ClusterSeed {
  host: string;
  port: number;
}

/** Where Redis is: `url` alone is one server; with `clusterNodes`, a Cluster found through those seeds. */
export interface RedisTarget {
  /** `REDIS_URL`. With cluster nodes only its user, password and `rediss:` (TLS) are used, for every node. */
  url: string;
  clusterNodes?: readonly ClusterSeed[] | undefined;
}

/** Per-connection choices; the rest is the same for every connection of a process. */
export interface RedisConnectOptions {
  /** ioredis `maxRetriesPerRequest`: `null` for BullMQ workers and anything that must wait Redis out. */
  maxRetriesPerRequest?: number | null;
  lazyConnect?: boolean;
  /** Shown by `CLIENT LIST` (`turnstream-api`, ...). */
  connectionName?: string;
}

/** `host:port` (IPv6 as `[addr]:port`). */
const SEED = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:[\]]+)):(\d{1,5})$/;

/** Parse `REDIS_CLUSTER_NODES`: comma-separated `host:port` seeds. Throws a readable error on a bad one. */
export function parseClusterNodes(text: string): ClusterSeed[] {
  const parts = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (parts.length === 0) throw new Error('no host:port seed');
  return parts.map((part) => {
    const m = SEED.exec(part);
    const port = Number(m?.[3]);
    if (!m || port < 1 || port > 65_535) throw new Error(`"${part}" is not host:port`);
    return { host: (m[1] ?? m[2])!, port };
  });
}

/** The `REDIS_CLUSTER_NODES` env var: unset (or empty) is a single server. */
export const clusterNodesEnv = z
  .string()
  .optional()
  .transform((text, ctx) => {
    if (text === undefined || text.trim() === '') return undefined;
    try {
      return parseClusterNodes(text);
    } catch (err) {
      ctx.addIssue({
        code: 'custom',
        message: `expected host:port,host:port,...: ${(err as Error).message}`,
      });
      return z.NEVER;
    }
  });

/** Whether `client` is a Cluster connection. */
export function isCluster(client: RedisClient): client is Cluster {
  return client instanceof Cluster || (client as { isCluster?: boolean }).isCluster === true;
}

/** Whether `target` names a Cluster. */
export function isClusterTarget(target: RedisTarget): boolean {
  return (target.clusterNodes?.length ?? 0) > 0;
}

/** User, password and TLS of a `redis://` / `rediss://` URL, to apply to every node of a Cluster. */
function credentialsOf(url: string): Pick<RedisOptions, 'username' | 'password' | 'tls'> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return {};
  }
  return {
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

/**
 * Cluster behaviour during a failover: a command for a slot whose master died is retried (on a random
 * node, then wherever `MOVED` points) every `retryDelayOnFailover` ms, until a replica is promoted,
 * within `maxRedirections` tries; about 20 s in all, longer than a promotion takes with the usual
 * `cluster-node-timeout` (15 s default: lower it, see docs/deployment.md).
 */
export const CLUSTER_FAILOVER_OPTIONS = {
  retryDelayOnFailover: 300,
  retryDelayOnClusterDown: 300,
  retryDelayOnTryAgain: 300,
  maxRedirections: 128,
  slotsRefreshTimeout: 2000,
} as const satisfies ClusterOptions;

/** A new connection to `target`: a `Redis` for one server, a `Cluster` for `REDIS_CLUSTER_NODES`. */
export function createRedis(target: RedisTarget, opts: RedisConnectOptions = {}): RedisClient {
  const perConnection = {
    ...(opts.maxRetriesPerRequest !== undefined ? { maxRetriesPerRequest: opts.maxRetriesPerRequest } : {}),
    ...(opts.connectionName ? { connectionName: opts.connectionName } : {}),
  };
  if (!isClusterTarget(target)) {
    return new Redis(target.url, { ...perConnection, ...(opts.lazyConnect ? { lazyConnect: true } : {}) });
  }
  return new Cluster(
    target.clusterNodes!.map((seed) => ({ ...seed })),
    {
      ...CLUSTER_FAILOVER_OPTIONS,
      ...(opts.lazyConnect ? { lazyConnect: true } : {}),
      redisOptions: { ...credentialsOf(target.url), ...perConnection },
    },
  );
}

/** What {@link duplicateRedis} may change on the copy. */
export interface DuplicateOptions {
  maxRetriesPerRequest?: number | null;
  /** Resubscribe by itself after a reconnect (ioredis default `true`). */
  autoResubscribe?: boolean;
  /** `CLIENT SETNAME` of the copy (default: the original's). */
  connectionName?: string;
  /**
   * On a Cluster: a connection per master for sharded pub/sub (`SSUBSCRIBE`), following slot moves and
   * failovers (ioredis `shardedSubscribers`). Ignored for a single server (one connection serves all).
   */
  shardedSubscribers?: boolean;
}

/**
 * A new connection like `client` (same server or Cluster, same options) with `override` applied: the
 * helper for subscriber connections and for BullMQ's own connections.
 */
export function duplicateRedis(client: RedisClient, override: DuplicateOptions = {}): RedisClient {
  const { shardedSubscribers, ...perConnection } = override;
  if (!isCluster(client)) return client.duplicate(perConnection);
  return client.duplicate([], {
    ...(shardedSubscribers ? { shardedSubscribers: true } : {}),
    redisOptions: { ...client.options.redisOptions, ...perConnection },
  });
}

/** Whether `prefix` holds a Cluster hash tag (a non-empty `{...}`). */
export function hasHashTag(prefix: string): boolean {
  return /\{[^{}]+\}/.test(prefix);
}

/**
 * The BullMQ prefix a process uses: on a Cluster every key of a queue must be in one slot, so a prefix
 * without a hash tag is wrapped in one (`bull` -> `{bull}`); on a single server the prefix is used as
 * given, so the keys of existing deployments do not move.
 */
export function bullPrefixFor(prefix: string, cluster: boolean): string {
  return cluster && !hasHashTag(prefix) ? `{${prefix}}` : prefix;
}

/**
 * A duplicate of `client` for a plain (`SUBSCRIBE`) subscriber, with ioredis' own resubscribe after a
 * reconnect off: it sends a SUBSCRIBE nobody awaits (ioredis `redis/event_handler.js`, `readyHandler`),
 * so a connection lost again before that reply rejects it unhandled, and Node ends a process on an
 * unhandled rejection. On a single server the owner subscribes again on every `'ready'`, handling the
 * promise. On a Cluster that option never applied to subscribing: subscriptions live on a connection of
 * ioredis' `ClusterSubscriber` (ioredis 6.0.0 `cluster/ClusterSubscriber.js`), made with options of
 * its own (lines 118-133: `retryStrategy: null`, so it never reconnects nor resubscribes that way); when it ends, or its node
 * leaves the Cluster, `selectSubscriber` opens one to another node and subscribes the channels of the
 * last one that worked again itself, the promise handled (`.catch`, lines 145-196), without a `'ready'`
 * of the Cluster. Tests: apps/worker/test/cancel-listener-cluster.test.ts,
 * apps/api/test/key-revocation-cluster.test.ts.
 */
export function subscriberRedis(
  client: RedisClient,
  override: Omit<DuplicateOptions, 'autoResubscribe'> = {},
): RedisClient {
  return duplicateRedis(client, { ...override, autoResubscribe: false });
}
