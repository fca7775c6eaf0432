import { createHash, randomBytes } from 'node:crypto';
import { and, eq, isNull } from 'drizzle-orm';
import type { Db } from '../client.ts';
import { type ApiKeyRole, apiKeys } from '../schema/index.ts';

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

/** Resolve a presented key to its tenant and role; null when unknown or revoked. */
export async function findApiKey(db: Db, presented: string): Promise<ApiKeyIdentity | null> {
  const [row] = await db
    .select({ keyId: apiKeys.id, tenantId: apiKeys.tenantId, role: apiKeys.role, prefix: apiKeys.prefix })
    .from(apiKeys)
    .where(and(eq(apiKeys.keyHash, hashApiKey(presented)), isNull(apiKeys.revokedAt)));
  return row ?? null;
}

export async function revokeApiKey(db: Db, tenantId: string, keyId: string): Promise<boolean> {
  const rows = await db
    .update(apiKeys)
    .set({ revokedAt: new Date() })
    .where(and(eq(apiKeys.id, keyId), eq(apiKeys.tenantId, tenantId), isNull(apiKeys.revokedAt)))
    .returning({ id: apiKeys.id });
  return rows.length > 0;
}

/** Whether the key still exists and is not revoked (stream tokens die with the key that asked for them). */
export async function isApiKeyActive(db: Db, keyId: string): Promise<boolean> {
  const [row] = await db
    .select({ id: apiKeys.id })
    .from(apiKeys)
    .where(and(eq(apiKeys.id, keyId), isNull(apiKeys.revokedAt)));
  return Boolean(row);
}

/** The identity of a key by id (a signed-in operator's session holds only the key id); null when revoked. */
export async function getApiKeyIdentity(db: Db, keyId: string): Promise<ApiKeyIdentity | null> {
  const [row] = await db
    .select({ keyId: apiKeys.id, tenantId: apiKeys.tenantId, role: apiKeys.role, prefix: apiKeys.prefix })
    .from(apiKeys)
    .where(and(eq(apiKeys.id, keyId), isNull(apiKeys.revokedAt)));
  return row ?? null;
}
