import type { RedisClient } from '@turnstream/config';
import { FLEET_DEFAULTS } from '@turnstream/config';

// KEYS[1] lease, KEYS[2] counter, KEYS[3] (optional) a flag of the conversation; ARGV[1] owner,
// ARGV[2] ttl ms, ARGV[3] floor. Returns {fence (0: held elsewhere), 1 when the flag exists}.
// The counter never goes below `floor` (the highest fence Postgres has seen), so fences stay
// monotonic even when Redis lost its data.
const ACQUIRE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return {0, 0} end
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
local floor = tonumber(ARGV[3])
if current < floor then redis.call('SET', KEYS[2], floor) end
local fence = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. fence, 'PX', ARGV[2])
local flagged = 0
if KEYS[3] then flagged = redis.call('EXISTS', KEYS[3]) end
return {fence, flagged}
`;
// KEYS[1] lease; ARGV[1] value; ARGV[2] ttl ms
const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`;
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

export interface LeaseOptions {
  redis: RedisClient;
  /** Key prefix. Default `ts`. */
  prefix?: string;
  /** Lease time-to-live in ms. Default 30_000. */
  ttlMs?: number;
}

/** A held conversation lease. `signal` aborts when a renewal finds the lease gone. */
export interface Lease {
  fence: number;
  /** Whether the `flag` key given to {@link ConversationLeases.acquire} existed as the lease was taken. */
  flagged: boolean;
  signal: AbortSignal;
  release(): Promise<void>;
}

/**
 * At most one turn per conversation in the whole fleet: a Redis key with expiry, renewed while the
 * turn runs, and a fencing token from a per-conversation counter that every write carries.
 */
export class ConversationLeases {
  private readonly redis: RedisClient;
  private readonly prefix: string;
  private readonly ttlMs: number;

  constructor(opts: LeaseOptions) {
    this.redis = opts.redis;
    this.prefix = opts.prefix ?? FLEET_DEFAULTS.REDIS_PREFIX;
    this.ttlMs = opts.ttlMs ?? 30_000;
  }

  keys(conversationId: string) {
    const tag = `${this.prefix}:{conv:${conversationId}}`;
    return { lease: `${tag}:lease`, counter: `${tag}:lease-counter` };
  }

  /**
   * Try to take the lease. Returns null when another turn holds it. `flag`, a key of the same
   * conversation (its `{conv:<id>}` hash tag: the message's cancel flag), is read in the same script
   * (`Lease.flagged`): no round trip of its own.
   */
  async acquire(
    conversationId: string,
    owner: string,
    floor = 0,
    opts: { flag?: string } = {},
  ): Promise<Lease | null> {
    const k = this.keys(conversationId);
    const keys = opts.flag ? [k.lease, k.counter, opts.flag] : [k.lease, k.counter];
    const [taken, flag] = (await this.redis.eval(
      ACQUIRE,
      keys.length,
      ...keys,
      owner,
      this.ttlMs,
      floor,
    )) as [number, number];
    const fence = Number(taken);
    if (!fence) return null;
    const value = `${owner}:${fence}`;
    const controller = new AbortController();
    const renew = async () => {
      try {
        const ok = Number(await this.redis.eval(RENEW, 1, k.lease, value, this.ttlMs));
        if (!ok) controller.abort(new LeaseLostError(conversationId, fence));
      } catch {
        // A Redis hiccup is not a lost lease; the next renewal decides.
      }
    };
    const timer = setInterval(renew, Math.max(100, Math.floor(this.ttlMs / 3)));
    timer.unref();
    let released = false;
    return {
      fence,
      flagged: Number(flag) === 1,
      signal: controller.signal,
      release: async () => {
        if (released) return;
        released = true;
        clearInterval(timer);
        await this.redis.eval(RELEASE, 1, k.lease, value).catch(() => undefined);
      },
    };
  }

  /** The owner value of the current lease, if any (for operators and tests). */
  async holder(conversationId: string): Promise<string | null> {
    return this.redis.get(this.keys(conversationId).lease);
  }
}

export class LeaseLostError extends Error {
  override name = 'LeaseLostError';
  constructor(
    readonly conversationId: string,
    readonly fence: number,
  ) {
    super(`lease of conversation ${conversationId} (fence ${fence}) was lost`);
  }
}
