import type { RedisClient } from '@turnstream/config';
import { FLEET_DEFAULTS } from '@turnstream/config';
import { defineScript, type ScriptCall } from './redis-scripts.ts';

/**
 * Running turns per tenant, across the whole fleet: a Redis sorted set per tenant whose members are
 * the jobs holding a slot, scored by when their hold expires. A turn holds its slot while it runs
 * (renewed like the conversation lease); a worker that dies stops renewing and its slot expires, so
 * no slot leaks. A job that finds its tenant at the limit waits (delayed, not an attempt) and is
 * listed, oldest first, so that whoever frees a slot wakes the tenant's next job at once.
 */

// KEYS[1] running set, KEYS[2] waiting set; ARGV[1] member, ARGV[2] now ms, ARGV[3] ttl ms, ARGV[4] limit
const ACQUIRE = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local expires = tonumber(ARGV[2]) + tonumber(ARGV[3])
if redis.call('ZSCORE', KEYS[1], ARGV[1]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[4]) then
  redis.call('ZADD', KEYS[1], expires, ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 1
end
redis.call('ZADD', KEYS[2], 'NX', ARGV[2], ARGV[1])
redis.call('PEXPIRE', KEYS[2], 86400000)
return 0
`;
// KEYS[1] running set; ARGV[1] member, ARGV[2] now ms, ARGV[3] ttl ms
const RENEW = `
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], tonumber(ARGV[2]) + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`;
// KEYS[1] running set, KEYS[2] waiting set; ARGV[1] member. Returns the oldest waiting member, if any.
const RELEASE = `
redis.call('ZREM', KEYS[1], ARGV[1])
local next = redis.call('ZRANGE', KEYS[2], 0, 0)
return next[1] or false
`;

export interface TenantSlotsOptions {
  redis: RedisClient;
  /** Key prefix. Default `ts`. */
  prefix?: string;
  /** How long a hold lasts without renewal (a dead worker's slot frees after this). Default 30_000. */
  ttlMs?: number;
}

/** A held slot; `release()` frees it and names the tenant's oldest waiting job (to wake it). */
export interface TenantSlot {
  release(): Promise<string | null>;
}

export class TenantSlots {
  private readonly redis: RedisClient;
  private readonly prefix: string;
  private readonly ttlMs: number;
  private readonly scripts: { acquire: ScriptCall; renew: ScriptCall; release: ScriptCall };

  constructor(opts: TenantSlotsOptions) {
    this.redis = opts.redis;
    this.prefix = opts.prefix ?? FLEET_DEFAULTS.REDIS_PREFIX;
    this.ttlMs = opts.ttlMs ?? 30_000;
    this.scripts = {
      acquire: defineScript(this.redis, 'turnstreamSlotAcquire', ACQUIRE, 2),
      renew: defineScript(this.redis, 'turnstreamSlotRenew', RENEW, 1),
      release: defineScript(this.redis, 'turnstreamSlotRelease', RELEASE, 2),
    };
  }

  keys(tenantId: string) {
    const tag = `${this.prefix}:{tenant:${tenantId}}`;
    return { running: `${tag}:running-turns`, waiting: `${tag}:waiting-turns` };
  }

  /**
   * Take one of the tenant's `limit` slots for `member` (the job id; taking it again is a renewal).
   * Null when the tenant is at its limit: the member is then listed as waiting.
   */
  async acquire(tenantId: string, member: string, limit: number): Promise<TenantSlot | null> {
    const k = this.keys(tenantId);
    const got = Number(
      await this.scripts.acquire(k.running, k.waiting, member, Date.now(), this.ttlMs, limit),
    );
    if (!got) return null;
    const renew = () => this.scripts.renew(k.running, member, Date.now(), this.ttlMs).catch(() => undefined);
    const timer = setInterval(renew, Math.max(100, Math.floor(this.ttlMs / 3)));
    timer.unref();
    let released = false;
    return {
      release: async () => {
        clearInterval(timer);
        if (released) return null;
        released = true;
        const next = await this.scripts.release(k.running, k.waiting, member);
        return typeof next === 'string' ? next : null;
      },
    };
  }

  /** Stop listing `member` as waiting (its job ended some other way). */
  async forget(tenantId: string, member: string): Promise<void> {
    await this.redis.zrem(this.keys(tenantId).waiting, member);
  }

  /** The tenant's oldest waiting job, if any. */
  async oldestWaiting(tenantId: string): Promise<string | null> {
    const [first] = await this.redis.zrange(this.keys(tenantId).waiting, '0', '0');
    return first ?? null;
  }

  /** Slots held right now (expired holds not counted). */
  async running(tenantId: string): Promise<number> {
    return this.redis.zcount(this.keys(tenantId).running, String(Date.now()), '+inf');
  }
}
