import type { RedisClient } from '@turnstream/config';

/**
 * Deliveries in flight per endpoint, across every process: a sorted set per endpoint of holders scored
 * by when their hold expires (a process that dies mid-delivery frees its slot by expiry). A receiver
 * that hangs can then hold only `limit` delivery slots of the fleet; others' deliveries go on.
 */
const ACQUIRE = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[3]) then return 1 end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
`;

export class EndpointSlots {
  constructor(
    private readonly redis: RedisClient,
    private readonly keyPrefix: string,
    /** Deliveries in flight at once per endpoint. */
    private readonly limit: number,
    /** How long a hold lasts unless released (longer than one attempt may take). */
    private readonly holdMs: number,
  ) {}

  private key(endpointId: string): string {
    return `${this.keyPrefix}:inflight:${endpointId}`;
  }

  private waitingKey(endpointId: string): string {
    return `${this.keyPrefix}:waiting:${endpointId}`;
  }

  /** Note that `jobId` waits for a slot (woken by the next release, oldest first). */
  async waiting(endpointId: string, jobId: string): Promise<void> {
    const key = this.waitingKey(endpointId);
    await this.redis
      .multi()
      .zadd(key, 'NX', Date.now(), jobId)
      .pexpire(key, this.holdMs * 2)
      .exec();
  }

  /** The longest-waiting job of the endpoint, taken off the list (null: none waits). */
  async nextWaiting(endpointId: string): Promise<string | null> {
    const [jobId] = await this.redis.zpopmin(this.waitingKey(endpointId));
    return jobId ?? null;
  }

  async notWaiting(endpointId: string, jobId: string): Promise<void> {
    await this.redis.zrem(this.waitingKey(endpointId), jobId);
  }

  /** Take a slot for `holder` (idempotent); false when the endpoint's slots are all held. */
  async acquire(endpointId: string, holder: string): Promise<boolean> {
    const now = Date.now();
    const taken = await this.redis.eval(
      ACQUIRE,
      1,
      this.key(endpointId),
      String(now),
      String(now + this.holdMs),
      holder,
      String(this.limit),
      String(this.holdMs * 2),
    );
    return taken === 1;
  }

  async release(endpointId: string, holder: string): Promise<void> {
    await this.redis.zrem(this.key(endpointId), holder);
  }
}
