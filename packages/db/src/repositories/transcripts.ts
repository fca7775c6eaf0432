import { and, desc, eq, isNotNull, sql } from 'drizzle-orm';
import type { Db } from '../client.ts';
import { assistantTranscripts } from '../schema/index.ts';
import { prepared } from './prepared.ts';

export type AssistantTranscript = typeof assistantTranscripts.$inferSelect;

export async function getTranscript(db: Db, id: string): Promise<AssistantTranscript | null> {
  const query = prepared(db, 'get_transcript', (d) =>
    d
      .select()
      .from(assistantTranscripts)
      .where(eq(assistantTranscripts.id, sql.placeholder('id')))
      .prepare('get_transcript'),
  );
  const [row] = await query.execute({ id });
  return row ?? null;
}

/** Tombstone a transcript: status `cleared`, content dropped. Its id can never be set on a session again. */
export async function tombstoneTranscript(
  db: Db,
  id: string,
  reason: string,
  /** When it was cleared (a caller ending a session in the same transaction passes its own time). */
  at: Date = new Date(),
): Promise<boolean> {
  const rows = await db
    .update(assistantTranscripts)
    .set({
      status: 'cleared',
      clearedReason: reason,
      clearedAt: at,
      messages: [],
      updatedAt: at,
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

/** A cleared (tombstoned) transcript: which assistant session id was cleared, when and why. */
export interface TranscriptClear {
  assistantSessionId: string;
  reason: string | null;
  clearedAt: Date;
}

/** The conversation's most recent `limit` clears, oldest first (no transcript content is read). */
export async function listTranscriptClears(
  db: Db,
  tenantId: string,
  conversationId: string,
  limit: number,
): Promise<TranscriptClear[]> {
  const rows = await db
    .select({
      assistantSessionId: assistantTranscripts.id,
      reason: assistantTranscripts.clearedReason,
      clearedAt: assistantTranscripts.clearedAt,
    })
    .from(assistantTranscripts)
    .where(
      and(
        eq(assistantTranscripts.tenantId, tenantId),
        eq(assistantTranscripts.conversationId, conversationId),
        eq(assistantTranscripts.status, 'cleared'),
        isNotNull(assistantTranscripts.clearedAt),
      ),
    )
    .orderBy(desc(assistantTranscripts.clearedAt), desc(assistantTranscripts.id))
    .limit(limit);
  return rows.reverse().map((r) => ({ ...r, clearedAt: r.clearedAt! }));
}
