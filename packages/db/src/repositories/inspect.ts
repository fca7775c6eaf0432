import { and, asc, desc, eq, gte, inArray, lt, sql } from 'drizzle-orm';
import type { Db } from '../client.ts';
import { assistantTranscripts, conversations, messages, tenants, turnAttempts } from '../schema/index.ts';

/** Attempt outcomes that count towards a failure loop. */
export const FAILURE_OUTCOMES = ['failed', 'retrying', 'session_invalid', 'lost'] as const;

export interface FailureLoop {
  conversationId: string;
  tenantId: string;
  failures: number;
  lastFailureAt: Date;
  lastErrorCode: string | null;
}

/**
 * Conversations with at least `minFailures` failed attempts (failed, retrying, session_invalid, lost)
 * that started since `since`: from outside these look like a conversation failing again and again.
 */
export async function listFailureLoops(
  db: Db,
  opts: { since: Date; minFailures: number; tenantId?: string; limit?: number },
): Promise<FailureLoop[]> {
  const rows = await db
    .select({
      conversationId: turnAttempts.conversationId,
      tenantId: turnAttempts.tenantId,
      failures: sql<number>`count(*)::int`,
      lastFailureAt: sql<Date>`max(${turnAttempts.startedAt})`,
      lastErrorCode: sql<
        string | null
      >`(array_agg(${turnAttempts.errorCode} order by ${turnAttempts.startedAt} desc))[1]`,
    })
    .from(turnAttempts)
    .where(
      and(
        gte(turnAttempts.startedAt, opts.since),
        inArray(turnAttempts.outcome, [...FAILURE_OUTCOMES]),
        opts.tenantId ? eq(turnAttempts.tenantId, opts.tenantId) : undefined,
      ),
    )
    .groupBy(turnAttempts.conversationId, turnAttempts.tenantId)
    .having(sql`count(*) >= ${opts.minFailures}`)
    .orderBy(desc(sql`count(*)`))
    .limit(opts.limit ?? 100);
  return rows.map((r) => ({ ...r, lastFailureAt: new Date(r.lastFailureAt) }));
}

export interface OpenTurn {
  messageId: string;
  conversationId: string;
  tenantId: string;
  seq: number;
  createdAt: Date;
  /** Outcome of the latest attempt, if any (`rate_limited` = waiting on a rate limit). */
  lastOutcome: string | null;
  lastErrorCode: string | null;
  attempts: number;
}

/**
 * User messages still pending, oldest first, with their latest attempt: the inspector tells stuck
 * messages (pending past a threshold with no live job) and turns waiting on a rate limit from these.
 */
export async function listOpenTurns(
  db: Db,
  opts: { olderThan?: Date; tenantId?: string; limit?: number },
): Promise<OpenTurn[]> {
  const latest = sql<string | null>`(
    select ${turnAttempts.outcome} from ${turnAttempts}
    where ${turnAttempts.messageId} = ${messages.id}
    order by ${turnAttempts.startedAt} desc limit 1)`;
  const latestCode = sql<string | null>`(
    select ${turnAttempts.errorCode} from ${turnAttempts}
    where ${turnAttempts.messageId} = ${messages.id}
    order by ${turnAttempts.startedAt} desc limit 1)`;
  const attempts = sql<number>`(
    select count(*)::int from ${turnAttempts} where ${turnAttempts.messageId} = ${messages.id})`;
  return db
    .select({
      messageId: messages.id,
      conversationId: messages.conversationId,
      tenantId: messages.tenantId,
      seq: messages.seq,
      createdAt: messages.createdAt,
      lastOutcome: latest,
      lastErrorCode: latestCode,
      attempts,
    })
    .from(messages)
    .where(
      and(
        eq(messages.status, 'pending'),
        eq(messages.role, 'user'),
        opts.olderThan ? lt(messages.createdAt, opts.olderThan) : undefined,
        opts.tenantId ? eq(messages.tenantId, opts.tenantId) : undefined,
      ),
    )
    .orderBy(asc(messages.createdAt))
    .limit(opts.limit ?? 200);
}

/** A transcript's metadata without its content (the inspector never shows what was said). */
export interface TranscriptSummary {
  id: string;
  status: 'live' | 'cleared';
  clearedReason: string | null;
  clearedAt: Date | null;
  rebuilt: boolean;
  model: string;
  turns: number;
  createdAt: Date;
}

export async function listTranscriptSummaries(
  db: Db,
  tenantId: string,
  conversationId: string,
): Promise<TranscriptSummary[]> {
  const rows = await db
    .select({
      id: assistantTranscripts.id,
      status: assistantTranscripts.status,
      clearedReason: assistantTranscripts.clearedReason,
      clearedAt: assistantTranscripts.clearedAt,
      rebuilt: assistantTranscripts.rebuilt,
      model: assistantTranscripts.model,
      entries: sql<number>`jsonb_array_length(${assistantTranscripts.messages})`,
      createdAt: assistantTranscripts.createdAt,
    })
    .from(assistantTranscripts)
    .where(
      and(
        eq(assistantTranscripts.tenantId, tenantId),
        eq(assistantTranscripts.conversationId, conversationId),
      ),
    )
    .orderBy(asc(assistantTranscripts.createdAt));
  return rows.map(({ entries, ...r }) => ({ ...r, turns: Math.floor(entries / 2) }));
}

/** A conversation by id in any tenant, with its tenant's name (operators see every tenant). */
export async function findConversationAnyTenant(db: Db, id: string) {
  const [row] = await db
    .select({ conversation: conversations, tenantName: tenants.name })
    .from(conversations)
    .innerJoin(tenants, eq(tenants.id, conversations.tenantId))
    .where(eq(conversations.id, id));
  return row ?? null;
}

export async function listTenants(db: Db) {
  return db
    .select({ id: tenants.id, name: tenants.name, operator: tenants.operator })
    .from(tenants)
    .orderBy(asc(tenants.name));
}
