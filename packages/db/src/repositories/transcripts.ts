import { and, eq } from 'drizzle-orm';
import type { Db } from '../client.ts';
import { assistantTranscripts } from '../schema/index.ts';

export type AssistantTranscript = typeof assistantTranscripts.$inferSelect;

export async function getTranscript(db: Db, id: string): Promise<AssistantTranscript | null> {
  const [row] = await db.select().from(assistantTranscripts).where(eq(assistantTranscripts.id, id));
  return row ?? null;
}

/** Tombstone a transcript: status `cleared`, content dropped. Its id can never be set on a session again. */
export async function tombstoneTranscript(db: Db, id: string, reason: string): Promise<boolean> {
  const rows = await db
    .update(assistantTranscripts)
    .set({
      status: 'cleared',
      clearedReason: reason,
      clearedAt: new Date(),
      messages: [],
      updatedAt: new Date(),
    })
    .where(and(eq(assistantTranscripts.id, id), eq(assistantTranscripts.status, 'live')))
    .returning({ id: assistantTranscripts.id });
  return rows.length > 0;
}

export async function listTranscripts(
  db: Db,
  tenantId: string,
  conversationId: string,
): Promise<AssistantTranscript[]> {
  return db
    .select()
    .from(assistantTranscripts)
    .where(
      and(
        eq(assistantTranscripts.tenantId, tenantId),
        eq(assistantTranscripts.conversationId, conversationId),
      ),
    )
    .orderBy(assistantTranscripts.createdAt);
}
