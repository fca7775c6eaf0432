import type { Conversation, Db } from '@turnstream/db';

export interface ConversationPage {
  conversations: Conversation[];
  /** Pass as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
}

/**
 * Newest first, keyset-paginated on (created_at, id) so that rows created in the same instant are
 * neither skipped nor repeated. The cursor is the id of the last row of the previous page.
 */
export async function listConversationsPage(
  db: Db,
  tenantId: string,
  opts: { limit: number; cursor?: string; externalId?: string },
): Promise<ConversationPage> {
  const rows = await db.query.conversations.findMany({
    where: (c, { and, eq, sql }) =>
      and(
        eq(c.tenantId, tenantId),
        opts.externalId !== undefined ? eq(c.externalId, opts.externalId) : undefined,
        opts.cursor !== undefined
          ? sql`(${c.createdAt}, ${c.id}) < (select k.created_at, k.id from conversations k where k.id = ${opts.cursor} and k.tenant_id = ${tenantId})`
          : undefined,
      ),
    orderBy: (c, { desc }) => [desc(c.createdAt), desc(c.id)],
    limit: opts.limit + 1,
  });
  const page = rows.slice(0, opts.limit);
  return { conversations: page, nextCursor: rows.length > opts.limit ? page[page.length - 1]!.id : null };
}
