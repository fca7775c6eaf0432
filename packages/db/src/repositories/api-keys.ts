import { createHash, randomBytes } from 'node:crypto';
import { and, asc, eq, gt, inArray, isNull, or, sql } from 'drizzle-orm';
import type { Db } from '../client.ts';
import { type ApiKeyRole, apiKeys } from '../schema/index.ts';
import { prepared } from './prepared.ts';

export type ApiKey = typeof apiKeys.$inferSelect;

/** sha256 hex of a presented key; the plaintext is never stored. */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export interface CreatedApiKey {
  id: string;
  /** The full key. Shown once; only its hash is stored. */
  key: string;
  prefix: string;
  role: ApiKeyRole;
  tenantId: string;
}

/** Create a key `ts_<prefix-id>_<secret>`; the first 12 characters are the visible prefix. */
export async function createApiKey(
  db: Db,
  input: { tenantId: string; name?: string; role?: ApiKeyRole; key?: string },
): Promise<CreatedApiKey> {
  const key = input.key ?? `ts_${randomBytes(4).toString('hex')}_${randomBytes(24).toString('base64url')}`;
  const prefix = key.slice(0, 12);
  const role = input.role ?? 'client';
  const [row] = await db
    .insert(apiKeys)
    .values({
      tenantId: input.tenantId,
      name: input.name ?? 'default',
      prefix,
      keyHash: hashApiKey(key),
      role,
    })
    .returning({ id: apiKeys.id });
  return { id: row!.id, key, prefix, role, tenantId: input.tenantId };
}

export interface ApiKeyIdentity {
  keyId: string;
  tenantId: string;
  role: ApiKeyRole;
  prefix: string;
}

/**
 * A key is active until its `revoked_at`: NULL (never revoked) or a time still ahead (a rotated key
 * keeps working for its grace period). Evaluated by the database clock, the same for every replica.
 */
const isActive = or(isNull(apiKeys.revokedAt), gt(apiKeys.revokedAt, sql`now()`));

/** A presented key that works now. */
export interface FoundApiKey extends ApiKeyIdentity {
  /** When it stops working: null for a key never revoked, a time ahead during a rotation's grace period. */
  expiresAt: Date | null;
}

/** Resolve a presented key to its tenant and role; null when unknown or revoked. */
export async function findApiKey(db: Db, presented: string): Promise<FoundApiKey | null> {
  const query = prepared(db, 'find_api_key', (d) =>
    d
      .select({
        keyId: apiKeys.id,
        tenantId: apiKeys.tenantId,
        role: apiKeys.role,
        prefix: apiKeys.prefix,
        expiresAt: apiKeys.revokedAt,
      })
      .from(apiKeys)
      .where(and(eq(apiKeys.keyHash, sql.placeholder('keyHash')), isActive))
      .prepare('find_api_key'),
  );
  const [row] = await query.execute({ keyHash: hashApiKey(presented) });
  return row ?? null;
}

/**
 * Revoke a key of `tenantId` now (also one still in a rotation grace period). Returns when it stopped
 * working, or null when the key is unknown, another tenant's, or already revoked.
 */
export async function revokeApiKey(db: Db, tenantId: string, keyId: string): Promise<Date | null> {
  const [row] = await db
    .update(apiKeys)
    .set({ revokedAt: sql`now()` })
    .where(and(eq(apiKeys.id, keyId), eq(apiKeys.tenantId, tenantId), isActive))
    .returning({ revokedAt: apiKeys.revokedAt });
  return row?.revokedAt ?? null;
}

/** Whether the key still exists and is not revoked (stream tokens die with the key that asked for them). */
export async function isApiKeyActive(db: Db, keyId: string): Promise<boolean> {
  const [row] = await db
    .select({ id: apiKeys.id })
    .from(apiKeys)
    .where(and(eq(apiKeys.id, keyId), isActive));
  return Boolean(row);
}

/** The identity of a key by id (a signed-in operator's session holds only the key id); null when revoked. */
export async function getApiKeyIdentity(db: Db, keyId: string): Promise<ApiKeyIdentity | null> {
  const [row] = await db
    .select({ keyId: apiKeys.id, tenantId: apiKeys.tenantId, role: apiKeys.role, prefix: apiKeys.prefix })
    .from(apiKeys)
    .where(and(eq(apiKeys.id, keyId), isActive));
  return row ?? null;
}

/** The subset of `keyIds` still active (what open event streams are checked against). */
export async function activeApiKeyIds(db: Db, keyIds: readonly string[]): Promise<Set<string>> {
  if (keyIds.length === 0) return new Set();
  const rows = await db
    .select({ id: apiKeys.id })
    .from(apiKeys)
    .where(and(inArray(apiKeys.id, [...keyIds]), isActive));
  return new Set(rows.map((r) => r.id));
}

/** What operators see of a key: never its secret or hash. */
export interface ApiKeyInfo {
  id: string;
  tenantId: string;
  name: string;
  prefix: string;
  role: ApiKeyRole;
  createdAt: Date;
  /** Set when revoked; a time ahead while a rotated key is in its grace period. */
  revokedAt: Date | null;
}

const infoColumns = {
  id: apiKeys.id,
  tenantId: apiKeys.tenantId,
  name: apiKeys.name,
  prefix: apiKeys.prefix,
  role: apiKeys.role,
  createdAt: apiKeys.createdAt,
  revokedAt: apiKeys.revokedAt,
};

/** Every key of a tenant, oldest first, revoked ones included. */
export async function listApiKeys(db: Db, tenantId: string): Promise<ApiKeyInfo[]> {
  return db
    .select(infoColumns)
    .from(apiKeys)
    .where(eq(apiKeys.tenantId, tenantId))
    .orderBy(asc(apiKeys.createdAt), asc(apiKeys.id));
}

/** A key by its id or its visible prefix (what an operator types), any tenant. */
export async function findApiKeyInfo(db: Db, idOrPrefix: string): Promise<ApiKeyInfo | null> {
  const byId = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(idOrPrefix);
  const [row] = await db
    .select(infoColumns)
    .from(apiKeys)
    .where(byId ? eq(apiKeys.id, idOrPrefix) : eq(apiKeys.prefix, idOrPrefix));
  return row ?? null;
}

export interface RotatedApiKey {
  created: CreatedApiKey;
  /** The old key stops working at this time (the end of the grace period). */
  oldKeyExpiresAt: Date;
}

/**
 * Rotate an active key: a new key with the same tenant, role and name, and the old one kept working
 * for `graceSeconds` (0: it stops now). Null when the key is unknown or no longer active.
 */
export async function rotateApiKey(
  db: Db,
  tenantId: string,
  keyId: string,
  graceSeconds: number,
): Promise<RotatedApiKey | null> {
  return db.transaction(async (tx) => {
    const [old] = await tx
      .update(apiKeys)
      // Never later than an expiry the key already has (rotating twice does not extend the grace).
      .set({
        revokedAt: sql`least(coalesce(${apiKeys.revokedAt}, 'infinity'::timestamptz), now() + make_interval(secs => ${graceSeconds}))`,
      })
      .where(and(eq(apiKeys.id, keyId), eq(apiKeys.tenantId, tenantId), isActive))
      .returning({ name: apiKeys.name, role: apiKeys.role, revokedAt: apiKeys.revokedAt });
    if (!old?.revokedAt) return null;
    const created = await createApiKey(tx, { tenantId, name: old.name, role: old.role });
    return { created, oldKeyExpiresAt: old.revokedAt };
  });
}
