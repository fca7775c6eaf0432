import { eq } from 'drizzle-orm';
import type { Db } from '../client.ts';
import { tenants } from '../schema/index.ts';

export type Tenant = typeof tenants.$inferSelect;

export async function createTenant(db: Db, input: { name: string; operator?: boolean }): Promise<Tenant> {
  const [row] = await db
    .insert(tenants)
    .values({ name: input.name, operator: input.operator ?? false })
    .returning();
  return row!;
}

export async function getTenant(db: Db, id: string): Promise<Tenant | null> {
  const [row] = await db.select().from(tenants).where(eq(tenants.id, id));
  return row ?? null;
}

/** Mark (or unmark) the tenant that runs the deployment (its admin and viewer keys see every tenant). */
export async function setTenantOperator(db: Db, id: string, operator: boolean): Promise<boolean> {
  const rows = await db
    .update(tenants)
    .set({ operator })
    .where(eq(tenants.id, id))
    .returning({ id: tenants.id });
  return rows.length > 0;
}

/** A tenant's own limits; `null` fields follow the deployment's defaults. */
export interface TenantLimitOverrides {
  messagesPerMinute: number | null;
  maxRunningTurns: number | null;
  /** Days a conversation is kept after its last message (the retention sweeper). */
  retentionDays: number | null;
}

/** Change a tenant's limits (`null`: back to the default; omitted: unchanged). Null when no such tenant. */
export async function setTenantLimits(
  db: Db,
  tenantId: string,
  limits: Partial<TenantLimitOverrides>,
): Promise<TenantLimitOverrides | null> {
  const set: Partial<TenantLimitOverrides> = {};
  if (limits.messagesPerMinute !== undefined) set.messagesPerMinute = limits.messagesPerMinute;
  if (limits.maxRunningTurns !== undefined) set.maxRunningTurns = limits.maxRunningTurns;
  if (limits.retentionDays !== undefined) set.retentionDays = limits.retentionDays;
  const [row] =
    Object.keys(set).length > 0
      ? await db.update(tenants).set(set).where(eq(tenants.id, tenantId)).returning()
      : await db.select().from(tenants).where(eq(tenants.id, tenantId));
  return row
    ? {
        messagesPerMinute: row.messagesPerMinute,
        maxRunningTurns: row.maxRunningTurns,
        retentionDays: row.retentionDays,
      }
    : null;
}
