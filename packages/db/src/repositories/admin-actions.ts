import { and, desc, eq } from 'drizzle-orm';
import type { Db } from '../client.ts';
import { adminActions } from '../schema/index.ts';

export type AdminAction = typeof adminActions.$inferSelect;
export type NewAdminAction = typeof adminActions.$inferInsert;

/** Append one entry to the operators' audit trail. */
export async function recordAdminAction(db: Db, input: NewAdminAction): Promise<AdminAction> {
  const [row] = await db.insert(adminActions).values(input).returning();
  return row!;
}

/** The audit trail of one conversation, newest first. */
export async function listConversationAdminActions(
  db: Db,
  conversationId: string,
  limit = 100,
): Promise<AdminAction[]> {
  return db
    .select()
    .from(adminActions)
    .where(eq(adminActions.conversationId, conversationId))
    .orderBy(desc(adminActions.createdAt))
    .limit(limit);
}

/** The most recent actions, optionally of one tenant, newest first. */
export async function listAdminActions(
  db: Db,
  opts: { tenantId?: string; action?: string; limit?: number } = {},
): Promise<AdminAction[]> {
  return db
    .select()
    .from(adminActions)
    .where(
      and(
        opts.tenantId ? eq(adminActions.tenantId, opts.tenantId) : undefined,
        opts.action ? eq(adminActions.action, opts.action) : undefined,
      ),
    )
    .orderBy(desc(adminActions.createdAt))
    .limit(opts.limit ?? 100);
}
