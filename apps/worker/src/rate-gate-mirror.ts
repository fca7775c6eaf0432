import { performance } from 'node:perf_hooks';
import { isCluster, type RedisClient, subscriberRedis } from '@turnstream/config';
import type { Logger } from '@turnstream/logger';

/** How often the mirror pings its subscriber and reads the gate again (a missed close lasts at most this). */
export const MIRROR_CHECK_MS = 1_000;

export interface RateGateMirrorOptions {
  /** The command connection (reads the gate); the subscriber connection duplicates it. */
  redis: RedisClient;
  /** The gate's key (its TTL is the time left) and the channel its closes are published on. */
  key: string;
  channel: string;
  logger: Logger;
  /** Default {@link MIRROR_CHECK_MS}. */
  checkMs?: number;
}

/**
 * A local copy of one rate gate, kept current by the closes published on the gate's channel, so that
 * the check right before a Claude request leaves costs no Redis round trip.
 *
 * It answers only while it is known to be current: subscribed (the subscription confirmed), the gate
 * read once after that (a close from before the subscription is seen), and the subscriber answering
 * its pings (a connection that went quiet is not trusted). Otherwise {@link remainingMs} is null and
 * the gate reads Redis, as it does without a mirror. It also reads the gate again on every check (a
 * close published by a process that does not publish, or a message lost, counts for at most
 * `checkMs`). On a Redis Cluster it is never started: there ioredis subscribes again after a failover
 * without telling, so the subscription cannot be confirmed.
 */
export class RateGateMirror {
  /** `performance.now()` at which the gate opens (as far as this process knows). */
  private until = 0;
  /** Whether subscribed and read since the subscriber's last (re)connect. */
  private synced = false;
  /** Bumped on every disconnect: a sync started before it does not mark the mirror current. */
  private generation = 0;
  /** When the subscriber last answered a ping (or the last sync), `performance.now()`. */
  private answeredAt = Number.NEGATIVE_INFINITY;
  private sub: RedisClient | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly checkMs: number;

  constructor(private readonly opts: RateGateMirrorOptions) {
    this.checkMs = opts.checkMs ?? MIRROR_CHECK_MS;
  }

  /** Whether the mirror answers for the gate right now. */
  get current(): boolean {
    return this.synced && performance.now() - this.answeredAt <= 2 * this.checkMs;
  }

  /** Milliseconds until the gate opens (0: open), or null when the mirror is not current. */
  remainingMs(): number | null {
    if (!this.current) return null;
    return Math.max(0, Math.ceil(this.until - performance.now()));
  }

  /** The gate stays closed `ms` from now (a close seen here: published, or made by this process). */
  closedFor(ms: number): void {
    if (!(ms > 0)) return;
    this.until = Math.max(this.until, performance.now() + ms);
  }

  /** Subscribe and read the gate; resolves once the mirror is current (or at once on a Cluster). */
  async start(): Promise<void> {
    if (isCluster(this.opts.redis)) return;
    const sub = subscriberRedis(this.opts.redis);
    this.sub = sub;
    sub.on('message', (channel: string, raw: string) => {
      if (channel === this.opts.channel) this.closedFor(Number(raw));
    });
    sub.on('error', (err: Error) =>
      this.opts.logger.warn(
        { event: 'claude.rate_gate_mirror_failed', err: err.message },
        'rate gate mirror subscriber error',
      ),
    );
    // Not current from the moment the connection drops until it has subscribed and read the gate again.
    sub.on('close', () => this.lost());
    sub.on('ready', () => {
      if (this.synced || this.stopped) return;
      this.sync().catch((err: Error) => this.syncFailed(err));
    });
    this.timer = setInterval(() => this.check(), this.checkMs);
    this.timer.unref();
    await this.sync();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.lost();
    clearInterval(this.timer);
    await this.sub?.quit().catch(() => undefined);
    this.sub = undefined;
  }

  private lost(): void {
    this.synced = false;
    this.generation++;
  }

  /** Subscribe, then read the gate: a close before the subscription is in the read, any after it is published. */
  private async sync(): Promise<void> {
    const sub = this.sub;
    if (!sub || this.stopped) return;
    const generation = this.generation;
    await sub.subscribe(this.opts.channel);
    const left = await this.opts.redis.pttl(this.opts.key);
    if (generation !== this.generation || this.stopped) return;
    this.closedFor(left);
    this.answeredAt = performance.now();
    this.synced = true;
  }

  /** Ping the subscriber (it stays trusted while it answers) and read the gate again. */
  private check(): void {
    const sub = this.sub;
    if (!sub || this.stopped) return;
    const sent = performance.now();
    const generation = this.generation;
    sub.ping().then(
      () => {
        if (generation === this.generation) this.answeredAt = Math.max(this.answeredAt, sent);
      },
      () => undefined,
    );
    this.opts.redis.pttl(this.opts.key).then(
      (left) => this.closedFor(left),
      () => undefined,
    );
    if (!this.synced && sub.status === 'ready') this.sync().catch((err: Error) => this.syncFailed(err));
  }

  private syncFailed(err: Error): void {
    this.opts.logger.warn(
      { event: 'claude.rate_gate_mirror_failed', err: err.message },
      'rate gate mirror could not subscribe (reads Redis until it does)',
    );
  }
}
