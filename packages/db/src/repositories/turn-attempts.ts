import { and, asc, eq, isNull } from 'drizzle-orm';
import type { Db } from '../client.ts';
import { turnAttempts } from '../schema/index.ts';

export type TurnAttempt = typeof turnAttempts.$inferSelect;
export type TurnOutcome =
  | 'completed'
  | 'failed'
  | 'retrying'
  | 'cancelled'
  | 'interrupted'
  | 'superseded'
  | 'rate_limited'
  | 'session_invalid';

export async function startAttempt(
  db: Db,
  input: {
    tenantId: string;
    conversationId: string;
    messageId: string;
    jobId: string | null;
    attempt: number;
    workerId: string;
    fence: number;
    sessionId: string | null;
    assistantSessionId: string | null;
  },
): Promise<TurnAttempt> {
  const [row] = await db.insert(turnAttempts).values(input).returning();
  return row!;
}

/** Record an attempt's outcome. The first outcome recorded stands (later calls change nothing). */
export async function finishAttempt(
  db: Db,
  id: string,
  input: { outcome: TurnOutcome; errorCode?: string | null; errorMessage?: string | null; usage?: unknown },
): Promise<void> {
  await db
    .update(turnAttempts)
    .set({
      outcome: input.outcome,
      errorCode: input.errorCode ?? null,
      errorMessage: input.errorMessage ?? null,
      usage: input.usage ?? null,
      endedAt: new Date(),
    })
    .where(and(eq(turnAttempts.id, id), isNull(turnAttempts.outcome)));
}

export async function listAttempts(db: Db, tenantId: string, messageId: string): Promise<TurnAttempt[]> {
  return db
    .select()
    .from(turnAttempts)
    .where(and(eq(turnAttempts.tenantId, tenantId), eq(turnAttempts.messageId, messageId)))
    .orderBy(asc(turnAttempts.startedAt));
}

export async function listConversationAttempts(db: Db, conversationId: string): Promise<TurnAttempt[]> {
  return db
    .select()
    .from(turnAttempts)
    .where(eq(turnAttempts.conversationId, conversationId))
    .orderBy(asc(turnAttempts.startedAt));
}
