import { type ApiKeyIdentity, type FoundApiKey, hashApiKey } from '@turnstream/db';

/** Most keys one replica keeps (beyond it the cache starts over). */
const MAX_ENTRIES = 10_000;

/**
 * The keys this replica resolved lately, so a client's requests do not each read `api_keys`. A
 * revocation still takes effect at once, because an entry is only ever used while the replica
 * would hear of its revocation:
 * - the revocation notice (the Redis channel of {@link KeyRevocationWatcher}) drops the key's entry
 *   as soon as it arrives, and a rotation's notice does too;
 * - entries are kept only while that channel's subscription is confirmed: when the subscriber's
 *   connection drops every entry goes (a notice published meanwhile would be lost), and nothing is
 *   kept until it is subscribed again;
 * - a lookup that was in flight when a notice arrived (or the connection dropped) is not kept;
 * - a key with an end (a rotated key in its grace period) is never kept, so it stops on time;
 * - every entry expires after `ttlMs`: what a notice cannot reach (a key revoked in the database
 *   alone) is seen within that time, as the open streams' sweep sees it.
 */
export class ApiKeyCache {
  private readonly entries = new Map<string, { identity: ApiKeyIdentity; until: number }>();
  /** Moves on with every notice and every loss of the channel: a lookup spanning one is not kept. */
  private generation = 0;
  private listening = false;

  constructor(private readonly ttlMs: number) {}

  /** The identity of a presented key, cached or from `load`; null when unknown or revoked. */
  async resolve(
    presented: string,
    load: (presented: string) => Promise<FoundApiKey | null>,
    now = Date.now(),
  ): Promise<ApiKeyIdentity | null> {
    const hash = hashApiKey(presented);
    const cached = this.entries.get(hash);
    if (cached && cached.until > now) return cached.identity;
    if (cached) this.entries.delete(hash);
    const generation = this.generation;
    const found = await load(presented);
    if (!found) return null;
    const identity: ApiKeyIdentity = {
      keyId: found.keyId,
      tenantId: found.tenantId,
      role: found.role,
      prefix: found.prefix,
    };
    if (found.expiresAt === null && this.listening && generation === this.generation) {
      if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
      this.entries.set(hash, { identity, until: now + this.ttlMs });
    }
    return identity;
  }

  /** Drop these keys (revoked or changed); lookups in flight are not kept. */
  forget(keyIds: readonly string[]): void {
    this.generation++;
    if (keyIds.length === 0) return;
    const ids = new Set(keyIds);
    for (const [hash, entry] of this.entries) {
      if (ids.has(entry.identity.keyId)) this.entries.delete(hash);
    }
  }

  /** The notice channel is subscribed: entries may be kept from now on. */
  listen(): void {
    this.listening = true;
  }

  /** The notice channel is lost: drop everything and keep nothing until it is back. */
  deafen(): void {
    this.listening = false;
    this.generation++;
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}
