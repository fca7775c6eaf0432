import { type RedisClient, subscriberRedis } from '@turnstream/config';
import { activeApiKeyIds, type Db } from '@turnstream/db';
import type { Logger } from '@turnstream/logger';
import type { ApiKeyCache } from './key-cache.ts';
import type { SseRegistry } from './sse.ts';

/**
 * Revoking a key ends its open event streams (and those of the stream tokens it issued) on every API
 * replica within seconds: the revoker publishes the key id on a Redis channel every replica listens
 * to, and each replica also re-checks the keys behind its open streams every few seconds (a rotated
 * key's grace period ending, or a revocation published while a replica's subscriber was reconnecting).
 * The same notices keep each replica's key cache ({@link ApiKeyCache}) true: a revoked or rotated key's
 * entry is dropped when its notice arrives.
 */

/** The channel revoked key ids are published on: `<prefix>:api-keys:revoked`. */
export function keyRevokedChannel(prefix: string): string {
  return `${prefix}:api-keys:revoked`;
}

/** What one notice says: keys revoked (their streams end), keys changed (a rotation: cached entries go). */
interface KeyNotice {
  keyIds?: string[];
  changed?: string[];
}

/** This process's watchers hear its own notices before they go out (the notice itself may lag). */
const localListeners = new Set<(keyIds: string[]) => void>();

async function publishNotice(redis: RedisClient, prefix: string, notice: KeyNotice): Promise<void> {
  const keyIds = [...(notice.keyIds ?? []), ...(notice.changed ?? [])];
  if (keyIds.length === 0) return;
  for (const listener of localListeners) listener(keyIds);
  await redis.publish(keyRevokedChannel(prefix), JSON.stringify(notice));
}

/** Tell every API replica that `keyIds` no longer work. */
export async function publishKeysRevoked(
  redis: RedisClient,
  prefix: string,
  keyIds: string[],
): Promise<void> {
  await publishNotice(redis, prefix, { keyIds });
}

/** Tell every API replica that `keyIds` changed (a rotation gave them an end): they are read again. */
export async function publishKeysChanged(
  redis: RedisClient,
  prefix: string,
  keyIds: string[],
): Promise<void> {
  await publishNotice(redis, prefix, { changed: keyIds });
}

const ids = (value: unknown): string[] =>
  Array.isArray(value) ? value.filter((k): k is string => typeof k === 'string') : [];

function parseNotice(message: string): { revoked: string[]; changed: string[] } {
  try {
    const parsed = JSON.parse(message) as KeyNotice;
    return { revoked: ids(parsed.keyIds), changed: ids(parsed.changed) };
  } catch {
    return { revoked: [], changed: [] };
  }
}

export interface KeyRevocationWatcherOptions {
  db: Db;
  /** A regular connection; the watcher subscribes on its own duplicate. */
  redis: RedisClient;
  prefix: string;
  sse: SseRegistry;
  logger: Logger;
  /** How often the keys behind open streams are re-checked in the database. */
  sweepMs: number;
  /** The replica's key cache: kept true by the notices, and emptied while they cannot be heard. */
  keyCache?: ApiKeyCache;
}

/**
 * Ends the event streams of revoked keys, on this replica, and keeps its key cache true.
 * `start()` once; `close()` on shutdown.
 */
export class KeyRevocationWatcher {
  private subscriber: RedisClient | undefined;
  private timer: NodeJS.Timeout | undefined;
  private sweeping = false;
  /** Moves on each time the subscriber's connection closes. */
  private connection = 0;
  private readonly forgetLocally = (keyIds: string[]) => this.opts.keyCache?.forget(keyIds);

  constructor(private readonly opts: KeyRevocationWatcherOptions) {}

  /** Never fails: with Redis away the API still starts (readiness reports it) and subscribes once connected. */
  async start(): Promise<void> {
    const { keyCache, prefix } = this.opts;
    // Subscribed again on each 'ready' below; on a Cluster ioredis subscribes its subscriber connection
    // again itself, handling the result (see subscriberRedis).
    const subscriber = subscriberRedis(this.opts.redis, { connectionName: `${prefix}:key-revocations` });
    this.subscriber = subscriber;
    localListeners.add(this.forgetLocally);
    subscriber.on('error', (err: Error) =>
      this.opts.logger.warn(
        { event: 'auth.revocation_listen_failed', err: err.message },
        'revocation channel error',
      ),
    );
    subscriber.on('message', (_channel: string, message: string) => {
      const { revoked, changed } = parseNotice(message);
      keyCache?.forget([...revoked, ...changed]);
      this.end(revoked, 'published');
    });
    // Notices published until the channel is subscribed again are lost: trust no cached key meanwhile.
    subscriber.on('close', () => {
      this.connection++;
      keyCache?.deafen();
    });
    // Every new connection subscribes again here (a failure is logged; the next connection tries again).
    subscriber.on('ready', () => void this.listen(subscriber));
    await this.listen(subscriber);
    this.timer = setInterval(() => void this.sweep(), this.opts.sweepMs);
    this.timer.unref();
  }

  /** Subscribe (again); once confirmed on a connection still open, the key cache may keep entries. */
  private async listen(subscriber: RedisClient): Promise<void> {
    const connection = this.connection;
    try {
      await subscriber.subscribe(keyRevokedChannel(this.opts.prefix));
      if (connection === this.connection && subscriber.status === 'ready') this.opts.keyCache?.listen();
    } catch (err) {
      this.opts.logger.warn(
        { event: 'auth.revocation_listen_failed', err: err instanceof Error ? err.message : String(err) },
        'could not subscribe to revocations yet (the sweep still ends revoked streams)',
      );
    }
  }

  /** Check every key behind an open stream; end the streams of those no longer active. */
  async sweep(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      const keyIds = this.opts.sse.keyIds();
      if (keyIds.length === 0) return;
      const active = await activeApiKeyIds(this.opts.db, keyIds);
      this.end(
        keyIds.filter((id) => !active.has(id)),
        'sweep',
      );
    } catch (err) {
      this.opts.logger.warn(
        { event: 'auth.revocation_sweep_failed', err: err instanceof Error ? err.message : String(err) },
        'could not re-check the keys of open streams',
      );
    } finally {
      this.sweeping = false;
    }
  }

  private end(keyIds: string[], via: 'published' | 'sweep'): void {
    if (keyIds.length === 0) return;
    const ended = this.opts.sse.revokeKeys(keyIds);
    if (ended > 0) {
      this.opts.logger.info(
        { event: 'auth.streams_revoked', via, keys: keyIds.length, streams: ended },
        'revoked',
      );
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    localListeners.delete(this.forgetLocally);
    this.opts.keyCache?.deafen();
    const subscriber = this.subscriber;
    this.subscriber = undefined;
    if (subscriber) await subscriber.quit().catch(() => subscriber.disconnect());
  }
}
