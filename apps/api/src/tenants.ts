import {
  type ApiKeyRole,
  createApiKey,
  createTenant,
  type Db,
  findApiKey,
  isUniqueViolation,
  setTenantOperator,
} from '@turnstream/db';

/** Name of the tenant the development runner uses. */
export const DEV_TENANT_NAME = 'development';

export interface TenantKey {
  tenantId: string;
  /** The full API key. Shown once: only its hash is stored. */
  apiKey: string;
  role: ApiKeyRole;
}

/** Create a tenant and its first API key (role `client` unless asked otherwise). */
export async function createTenantWithKey(
  db: Db,
  input: { name: string; role?: ApiKeyRole; keyName?: string; operator?: boolean },
): Promise<TenantKey> {
  const tenant = await createTenant(db, { name: input.name, operator: input.operator ?? false });
  const key = await createApiKey(db, {
    tenantId: tenant.id,
    role: input.role ?? 'client',
    name: input.keyName ?? 'initial',
  });
  return { tenantId: tenant.id, apiKey: key.key, role: key.role };
}

/**
 * The development tenant (named `development`, created when missing) and an admin key for it.
 * With `key` (e.g. from `DEV_API_KEY`) that exact key is reused or registered, so a developer's key
 * survives restarts; without it, a new key is created on every call.
 */
export async function ensureDevTenant(
  db: Db,
  opts: { key?: string } = {},
): Promise<TenantKey & { created: boolean }> {
  const existing = await db.query.tenants.findFirst({
    where: (t, { eq }) => eq(t.name, DEV_TENANT_NAME),
    orderBy: (t, { asc }) => [asc(t.createdAt)],
  });
  // The development tenant runs the deployment: its keys see the queue dashboard and every tenant.
  const tenantId = existing?.id ?? (await createTenant(db, { name: DEV_TENANT_NAME, operator: true })).id;
  if (existing && !existing.operator) await setTenantOperator(db, tenantId, true);
  const created = !existing;

  if (opts.key) {
    const found = await findApiKey(db, opts.key);
    if (found) {
      if (found.tenantId !== tenantId)
        throw new Error('DEV_API_KEY belongs to another tenant than the development one');
      return { tenantId, apiKey: opts.key, role: found.role, created };
    }
    try {
      const key = await createApiKey(db, { tenantId, role: 'admin', name: 'development', key: opts.key });
      return { tenantId, apiKey: key.key, role: key.role, created };
    } catch (err) {
      // Registered concurrently by another process: reuse it.
      const again = isUniqueViolation(err) ? await findApiKey(db, opts.key) : null;
      if (again?.tenantId === tenantId) return { tenantId, apiKey: opts.key, role: again.role, created };
      throw err;
    }
  }
  const key = await createApiKey(db, { tenantId, role: 'admin', name: `dev-${new Date().toISOString()}` });
  return { tenantId, apiKey: key.key, role: key.role, created };
}
