import type { RedisClient } from '@turnstream/config';
import { FLEET_DEFAULTS } from '@turnstream/config';
import { defineScript } from './redis-scripts.ts';

// KEYS[1] lease, KEYS[2] counter, KEYS[3] waiting mark, KEYS[4] (optional) a flag of the conversation;
// ARGV[1] owner, ARGV[2] ttl ms, ARGV[3] floor, ARGV[4] mark ttl ms. Returns {fence (0: held elsewhere),
// 1 when the flag exists}. The counter never goes below `floor` (the highest fence Postgres has seen), so
// fences stay monotonic even when Redis lost its data. A refused acquirer marks the conversation as
// waited on (its job is about to be delayed): the holder's release reports it.
const ACQUIRE = `
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('INCR', KEYS[3])
  redis.call('PEXPIRE', KEYS[3], ARGV[4])
  return {0, 0}
end
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
local floor = tonumber(ARGV[3])
if current < floor then redis.call('SET', KEYS[2], floor) end
local fence = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. fence, 'PX', ARGV[2])
local flagged = 0
if KEYS[4] then flagged = redis.call('EXISTS', KEYS[4]) end
return {fence, flagged}
`;
// KEYS[1] lease; ARGV[1] value; ARGV[2] ttl ms
const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`;
// KEYS[1] lease, KEYS[2] waiting mark; ARGV[1] value. Returns the mark (false: nobody waited).
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return redis.call('GET', KEYS[2])
`;
// KEYS[1] waiting mark; ARGV[1] ttl ms
const MARK = `
local mark = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return mark
`;
// KEYS[1] waiting mark; ARGV[1] the mark as read. Clears it unless a job marked it again since.
const CLEAR = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/** What a release resolves with when it could not read the waiting mark (never a mark's value). */
export const UNKNOWN_MARK = 'unknown';

/** How long a waiting mark lasts when no turn of the conversation ends to read it (it clears itself). */
const MARK_TTL_MS = 86_400_000;

/** The lease scripts as commands on the connection. */
function scripts(redis: RedisClient) {
  return {
    // A variable number of keys (the flag is optional): the key count is the call's first argument.
    acquire: defineScript(redis, 'turnstreamLeaseAcquire', ACQUIRE),
    renew: defineScript(redis, 'turnstreamLeaseRenew', RENEW, 1),
    release: defineScript(redis, 'turnstreamLeaseRelease', RELEASE, 2),
    mark: defineScript(redis, 'turnstreamLeaseMarkWaiting', MARK, 1),
    clear: defineScript(redis, 'turnstreamLeaseClearWaiting', CLEAR, 1),
  };
}

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
  /**
   * Let the lease go. Resolves with the conversation's waiting mark when a job marked it (it found
   * the lease held, or waits behind an earlier message: {@link ConversationLeases.markWaiting}) and
   * no one cleared the mark since; null when nobody waited. When Redis could not be reached it
   * resolves with {@link UNKNOWN_MARK} (whether a job waits is not known: look).
   */
  release(): Promise<string | null>;
}

/**
 * At most one turn per conversation in the whole fleet: a Redis key with expiry, renewed while the
 * turn runs, and a fencing token from a per-conversation counter that every write carries.
 *
 * A job that cannot run because the conversation is busy marks it (a counter in the conversation's
 * slot): the turn that ends reads the mark with its release, so only then does it look for a waiting
 * job to wake. The mark stays while jobs may still wait; {@link ConversationLeases.clearWaiting} drops
 * it once none does, unless a job marked it again meanwhile.
 */
export class ConversationLeases {
  private readonly redis: RedisClient;
  private readonly prefix: string;
  private readonly ttlMs: number;
  private readonly scripts: ReturnType<typeof scripts>;

  constructor(opts: LeaseOptions) {
    this.redis = opts.redis;
    this.prefix = opts.prefix ?? FLEET_DEFAULTS.REDIS_PREFIX;
    this.ttlMs = opts.ttlMs ?? 30_000;
    this.scripts = scripts(this.redis);
  }

  keys(conversationId: string) {
    const tag = `${this.prefix}:{conv:${conversationId}}`;
    return { lease: `${tag}:lease`, counter: `${tag}:lease-counter`, waiting: `${tag}:waiting` };
  }

  /**
   * Try to take the lease. Returns null when another turn holds it (the conversation is then marked
   * as waited on). `flag`, a key of the same conversation (its `{conv:<id>}` hash tag: the message's
   * cancel flag), is read in the same script (`Lease.flagged`): no round trip of its own.
   */
  async acquire(
    conversationId: string,
    owner: string,
    floor = 0,
    opts: { flag?: string } = {},
  ): Promise<Lease | null> {
    const k = this.keys(conversationId);
    const keys = opts.flag ? [k.lease, k.counter, k.waiting, opts.flag] : [k.lease, k.counter, k.waiting];
    const [taken, flag] = (await this.scripts.acquire(
      keys.length,
      ...keys,
      owner,
      this.ttlMs,
      floor,
      MARK_TTL_MS,
    )) as [number, number];
    const fence = Number(taken);
    if (!fence) return null;
    const value = `${owner}:${fence}`;
    const controller = new AbortController();
    const renew = async () => {
      try {
        const ok = Number(await this.scripts.renew(k.lease, value, this.ttlMs));
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
        if (released) return null;
        released = true;
        clearInterval(timer);
        try {
          const mark = await this.scripts.release(k.lease, k.waiting, value);
          return mark == null ? null : String(mark);
        } catch {
          return UNKNOWN_MARK;
        }
      },
    };
  }

  /**
   * Mark the conversation as waited on: a job of it is about to wait (delayed) for a turn of the
   * conversation to end. Returns the mark.
   */
  async markWaiting(conversationId: string): Promise<string> {
    return String(await this.scripts.mark(this.keys(conversationId).waiting, MARK_TTL_MS));
  }

  /** Drop the waiting mark read as `mark`, unless a job marked the conversation again since. */
  async clearWaiting(conversationId: string, mark: string): Promise<void> {
    await this.scripts.clear(this.keys(conversationId).waiting, mark);
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
