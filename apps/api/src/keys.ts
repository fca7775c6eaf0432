import type { RedisClient } from '@turnstream/config';
import {
  type ApiKeyInfo,
  type ApiKeyRole,
  type CreatedApiKey,
  createApiKey,
  type Db,
  findApiKeyInfo,
  getTenant,
  listApiKeys,
  revokeApiKey,
  rotateApiKey,
} from '@turnstream/db';
import { publishKeysChanged, publishKeysRevoked } from './key-revocation.ts';

/**
 * Key management, shared by the `key:*` commands (and any admin surface): add a key to a tenant, list
 * a tenant's keys (never their secrets), revoke one (its open streams end on every replica), rotate one
 * (a new key; the old one keeps working for a grace period, then its streams end too).
 */
export interface KeyAdminDeps {
  db: Db;
  redis: RedisClient;
  /** `REDIS_PREFIX` of the API replicas. */
  prefix: string;
}

export class KeyAdminError extends Error {
  override name = 'KeyAdminError';
}

/** Add a key to an existing tenant; role `client` unless asked otherwise. */
export async function addKey(
  db: Db,
  input: { tenantId: string; role?: ApiKeyRole; name?: string },
): Promise<CreatedApiKey> {
  if (!(await getTenant(db, input.tenantId))) throw new KeyAdminError(`no tenant ${input.tenantId}`);
  return createApiKey(db, {
    tenantId: input.tenantId,
    role: input.role ?? 'client',
    name: input.name ?? 'default',
  });
}

export interface KeyListing extends Omit<ApiKeyInfo, 'tenantId'> {
  /** When the key last authenticated a request (to the minute); null if never seen. */
  lastUsedAt: Date | null;
  /** `active`, `expiring` (rotated, in its grace period) or `revoked`. */
  status: 'active' | 'expiring' | 'revoked';
}

/** A tenant's keys, oldest first: prefix, role, created, last used, status. Never the secret. */
export async function listKeys(
  deps: KeyAdminDeps,
  tenantId: string,
  now = new Date(),
): Promise<KeyListing[]> {
  if (!(await getTenant(deps.db, tenantId))) throw new KeyAdminError(`no tenant ${tenantId}`);
  const keys = await listApiKeys(deps.db, tenantId);
  const used = keys.length ? await deps.redis.hmget(lastUsedKey(deps.prefix), ...keys.map((k) => k.id)) : [];
  return keys.map(({ tenantId: _tenant, ...key }, i) => ({
    ...key,
    lastUsedAt: used[i] ? new Date(Number(used[i])) : null,
    status: key.revokedAt === null ? 'active' : key.revokedAt > now ? 'expiring' : 'revoked',
  }));
}

async function resolveKey(db: Db, ref: string): Promise<ApiKeyInfo> {
  const key = await findApiKeyInfo(db, ref);
  if (!key) throw new KeyAdminError(`no key with id or prefix ${ref}`);
  return key;
}

/** Revoke a key (by id or prefix) now; its open streams end on every API replica within seconds. */
export async function revokeKey(
  deps: KeyAdminDeps,
  ref: string,
): Promise<{ key: ApiKeyInfo; revokedAt: Date }> {
  const key = await resolveKey(deps.db, ref);
  const revokedAt = await revokeApiKey(deps.db, key.tenantId, key.id);
  if (!revokedAt) throw new KeyAdminError(`key ${key.prefix} is already revoked`);
  await publishKeysRevoked(deps.redis, deps.prefix, [key.id]);
  return { key, revokedAt };
}

/**
 * Rotate a key (by id or prefix): a new key with the same tenant, role and name; the old one works for
 * `graceSeconds` more, then stops (its open streams end within seconds of that).
 */
export async function rotateKey(
  deps: KeyAdminDeps,
  ref: string,
  graceSeconds: number,
): Promise<{ key: ApiKeyInfo; created: CreatedApiKey; oldKeyExpiresAt: Date }> {
  const key = await resolveKey(deps.db, ref);
  const rotated = await rotateApiKey(deps.db, key.tenantId, key.id, graceSeconds);
  if (!rotated) throw new KeyAdminError(`key ${key.prefix} is revoked; create a new one with key:create`);
  // Either way every replica reads the key again: cached, it would outlive a short grace period.
  if (graceSeconds === 0) await publishKeysRevoked(deps.redis, deps.prefix, [key.id]);
  else await publishKeysChanged(deps.redis, deps.prefix, [key.id]);
  return { key, created: rotated.created, oldKeyExpiresAt: rotated.oldKeyExpiresAt };
}

/** Redis hash of key id -> last use (ms since epoch). Kept in Redis: requests never write the database. */
function lastUsedKey(prefix: string): string {
  return `${prefix}:api-keys:last-used`;
}

/** How often one process records a key's use (a minute's precision is enough for operators). */
const RECORD_EVERY_MS = 60_000;

/** Records key use, at most once a minute per key per process, without delaying the request. */
export class KeyUseRecorder {
  private readonly recorded = new Map<string, number>();

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  record(keyId: string, now = Date.now()): void {
    const last = this.recorded.get(keyId);
    if (last !== undefined && now - last < RECORD_EVERY_MS) return;
    this.recorded.set(keyId, now);
    if (this.recorded.size > 10_000) this.recorded.clear();
    this.redis.hset(lastUsedKey(this.prefix), keyId, String(now)).catch(() => this.recorded.delete(keyId));
  }
}
