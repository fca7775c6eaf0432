import { type Db, getTenant } from '@turnstream/db';

/** How long one replica trusts a tenant's limits before reading them again. */
const CACHE_MS = 10_000;

/**
 * Per-tenant limits the API enforces: the tenant's own (set with `pnpm tenant:limits`) or the
 * deployment's default. Cached briefly per replica, so a change applies within seconds.
 */
export class TenantLimits {
  private readonly cache = new Map<string, { messagesPerMinute: number; until: number }>();

  constructor(
    private readonly db: Db,
    private readonly defaults: { messagesPerMinute: number },
  ) {}

  async messagesPerMinute(tenantId: string, now = Date.now()): Promise<number> {
    const cached = this.cache.get(tenantId);
    if (cached && cached.until > now) return cached.messagesPerMinute;
    const tenant = await getTenant(this.db, tenantId);
    const messagesPerMinute = tenant?.messagesPerMinute ?? this.defaults.messagesPerMinute;
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(tenantId, { messagesPerMinute, until: now + CACHE_MS });
    return messagesPerMinute;
  }
}
