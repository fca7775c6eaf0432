import { and, desc, eq, lt, sql } from 'drizzle-orm';
import type { Db } from '../client.ts';
import { conversations, sessions } from '../schema/index.ts';
import { prepared } from './prepared.ts';

export type Conversation = typeof conversations.$inferSelect;

export interface CreateConversationInput {
  tenantId: string;
  model: string;
  title?: string | null;
  externalId?: string | null;
  system?: string | null;
  thinkingBudgetTokens?: number | null;
  defaultMode?: 'stream' | 'batch';
}

export type CreateConversationResult =
  | { ok: true; conversation: Conversation }
  | { ok: false; conflict: 'external_id_taken'; existing: Conversation };

/** Create a conversation and its first (empty) active session in one transaction. */
export async function createConversation(
  db: Db,
  input: CreateConversationInput,
): Promise<CreateConversationResult> {
  if (input.externalId) {
    const existing = await getConversationByExternalId(db, input.tenantId, input.externalId);
    if (existing) return { ok: false, conflict: 'external_id_taken', existing };
  }
  try {
    const conversation = await db.transaction(async (tx) => {
      const [row] = await tx
        .insert(conversations)
        .values({
          tenantId: input.tenantId,
          model: input.model,
          title: input.title ?? null,
          externalId: input.externalId ?? null,
          system: input.system ?? null,
          thinkingBudgetTokens: input.thinkingBudgetTokens ?? null,
          defaultMode: input.defaultMode ?? 'stream',
        })
        .returning();
      await tx.insert(sessions).values({ tenantId: input.tenantId, conversationId: row!.id });
      return row!;
    });
    return { ok: true, conversation };
  } catch (err) {
    if (isUniqueViolation(err) && input.externalId) {
      const existing = await getConversationByExternalId(db, input.tenantId, input.externalId);
      if (existing) return { ok: false, conflict: 'external_id_taken', existing };
    }
    throw err;
  }
}

export async function getConversation(db: Db, tenantId: string, id: string): Promise<Conversation | null> {
  const query = prepared(db, 'get_conversation', (d) =>
    d
      .select()
      .from(conversations)
      .where(
        and(
          eq(conversations.id, sql.placeholder('id')),
          eq(conversations.tenantId, sql.placeholder('tenantId')),
        ),
      )
      .prepare('get_conversation'),
  );
  const [row] = await query.execute({ id, tenantId });
  return row ?? null;
}

export async function getConversationByExternalId(
  db: Db,
  tenantId: string,
  externalId: string,
): Promise<Conversation | null> {
  const [row] = await db
    .select()
    .from(conversations)
    .where(and(eq(conversations.tenantId, tenantId), eq(conversations.externalId, externalId)));
  return row ?? null;
}

/** Newest first, keyset-paginated by creation time. */
export async function listConversations(
  db: Db,
  tenantId: string,
  opts: { limit?: number; before?: Date } = {},
): Promise<Conversation[]> {
  const where = opts.before
    ? and(eq(conversations.tenantId, tenantId), lt(conversations.createdAt, opts.before))
    : eq(conversations.tenantId, tenantId);
  return db
    .select()
    .from(conversations)
    .where(where)
    .orderBy(desc(conversations.createdAt))
    .limit(opts.limit ?? 50);
}

export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; cause?: { code?: string } };
  return e?.code === '23505' || e?.cause?.code === '23505';
}
