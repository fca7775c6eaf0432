import { and, eq, gte, isNotNull, lt, sql } from 'drizzle-orm';
import type { Db } from '../client.ts';
import { conversations, turnAttempts } from '../schema/index.ts';

/** Token totals of a group of turns, by kind, for one model. */
export interface UsageRow {
  /** The group: a day (`YYYY-MM-DD`, UTC), a tenant id or a conversation id. */
  key: string;
  tenantId: string;
  model: string;
  turns: number;
  inputTokens: number;
  outputTokens: number;
  cacheReadInputTokens: number;
  cacheCreationInputTokens: number;
}

export type UsageGroup = 'day' | 'tenant' | 'conversation';

const tokens = (field: string) =>
  sql<number>`coalesce(sum((${turnAttempts.usage} ->> ${sql.raw(`'${field}'`)})::bigint), 0)::bigint`;

/**
 * Token usage of every attempt that recorded usage (a turn's usage is stored on the attempt that
 * completed it), summed per `group` and model, between `from` (inclusive) and `to` (exclusive).
 */
export async function sumUsage(
  db: Db,
  opts: { group: UsageGroup; from: Date; to: Date; tenantId?: string; conversationId?: string },
): Promise<UsageRow[]> {
  const key =
    opts.group === 'day'
      ? sql<string>`to_char(${turnAttempts.startedAt} at time zone 'UTC', 'YYYY-MM-DD')`
      : opts.group === 'tenant'
        ? sql<string>`${turnAttempts.tenantId}::text`
        : sql<string>`${turnAttempts.conversationId}::text`;
  const rows = await db
    .select({
      key,
      tenantId: turnAttempts.tenantId,
      model: conversations.model,
      turns: sql<number>`count(*)::int`,
      inputTokens: tokens('inputTokens'),
      outputTokens: tokens('outputTokens'),
      cacheReadInputTokens: tokens('cacheReadInputTokens'),
      cacheCreationInputTokens: tokens('cacheCreationInputTokens'),
    })
    .from(turnAttempts)
    .innerJoin(conversations, eq(conversations.id, turnAttempts.conversationId))
    .where(
      and(
        isNotNull(turnAttempts.usage),
        gte(turnAttempts.startedAt, opts.from),
        lt(turnAttempts.startedAt, opts.to),
        opts.tenantId ? eq(turnAttempts.tenantId, opts.tenantId) : undefined,
        opts.conversationId ? eq(turnAttempts.conversationId, opts.conversationId) : undefined,
      ),
    )
    .groupBy(key, turnAttempts.tenantId, conversations.model)
    .orderBy(key, conversations.model);
  return rows.map((r) => ({
    ...r,
    inputTokens: Number(r.inputTokens),
    outputTokens: Number(r.outputTokens),
    cacheReadInputTokens: Number(r.cacheReadInputTokens),
    cacheCreationInputTokens: Number(r.cacheCreationInputTokens),
  }));
}
