import { duplicateRedis, type RedisClient } from '@turnstream/config';
import { activeApiKeyIds, type Db } from '@turnstream/db';
import type { Logger } from '@turnstream/logger';
import type { SseRegistry } from './sse.ts';

/**
 * Revoking a key ends its open event streams (and those of the stream tokens it issued) on every API
 * replica within seconds: the revoker publishes the key id on a Redis channel every replica listens
 * to, and each replica also re-checks the keys behind its open streams every few seconds (a rotated
 * key's grace period ending, or a revocation published while a replica's subscriber was reconnecting).
 */

/** The channel revoked key ids are published on: `<prefix>:api-keys:revoked`. */
export function keyRevokedChannel(prefix: string): string {
  return `${prefix}:api-keys:revoked`;
}

/** Tell every API replica that `keyIds` no longer work. */
export async function publishKeysRevoked(
  redis: RedisClient,
  prefix: string,
  keyIds: string[],
): Promise<void> {
  if (keyIds.length > 0) await redis.publish(keyRevokedChannel(prefix), JSON.stringify({ keyIds }));
}

function parseKeyIds(message: string): string[] {
  try {
    const parsed = JSON.parse(message) as { keyIds?: unknown };
    return Array.isArray(parsed.keyIds)
      ? parsed.keyIds.filter((k): k is string => typeof k === 'string')
      : [];
  } catch {
    return [];
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
}

/** Ends the event streams of revoked keys, on this replica. `start()` once; `close()` on shutdown. */
export class KeyRevocationWatcher {
  private subscriber: RedisClient | undefined;
  private timer: NodeJS.Timeout | undefined;
  private sweeping = false;

  constructor(private readonly opts: KeyRevocationWatcherOptions) {}

  /** Never fails: with Redis away the API still starts (readiness reports it); ioredis resubscribes. */
  async start(): Promise<void> {
    const subscriber = duplicateRedis(this.opts.redis);
    this.subscriber = subscriber;
    subscriber.on('error', (err: Error) =>
      this.opts.logger.warn(
        { event: 'auth.revocation_listen_failed', err: err.message },
        'revocation channel error',
      ),
    );
    subscriber.on('message', (_channel: string, message: string) =>
      this.end(parseKeyIds(message), 'published'),
    );
    await subscriber
      .subscribe(keyRevokedChannel(this.opts.prefix))
      .catch((err: unknown) =>
        this.opts.logger.warn(
          { event: 'auth.revocation_listen_failed', err: err instanceof Error ? err.message : String(err) },
          'could not subscribe to revocations yet (the sweep still ends revoked streams)',
        ),
      );
    this.timer = setInterval(() => void this.sweep(), this.opts.sweepMs);
    this.timer.unref();
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
    const subscriber = this.subscriber;
    this.subscriber = undefined;
    if (subscriber) await subscriber.quit().catch(() => subscriber.disconnect());
  }
}
