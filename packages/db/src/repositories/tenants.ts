import { eq } from 'drizzle-orm';
import type { Db } from '../client.ts';
import { tenants } from '../schema/index.ts';

export type Tenant = typeof tenants.$inferSelect;

export async function createTenant(db: Db, input: { name: string }): Promise<Tenant> {
  const [row] = await db.insert(tenants).values({ name: input.name }).returning();
  return row!;
}

export async function getTenant(db: Db, id: string): Promise<Tenant | null> {
  const [row] = await db.select().from(tenants).where(eq(tenants.id, id));
  return row ?? null;
}
