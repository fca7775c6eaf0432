import { sql } from 'drizzle-orm';
import type { Db } from '../client.ts';

/** The partial text of a streaming reply, written by the turn holding `fence`. */
export interface ReplyContentWrite {
  replyId: string;
  fence: number;
  content: string;
}

/**
 * Live persistence of many streaming replies in one statement (one writer per worker process).
 * Each row is written only while it is `streaming` and owned by its `fence`, exactly like a single
 * fenced write. Returns the ids written; a reply not among them was fenced out or has ended.
 */
export async function updateReplyContents(db: Db, writes: ReplyContentWrite[]): Promise<Set<string>> {
  if (writes.length === 0) return new Set();
  const rows = JSON.stringify(writes.map((w) => ({ id: w.replyId, fence: w.fence, content: w.content })));
  const written = await db.execute<{ id: string }>(sql`
    update "messages" as m
    set content = v.content, updated_at = now()
    from jsonb_to_recordset(${rows}::jsonb) as v(id uuid, fence bigint, content text)
    where m.id = v.id and m.fence = v.fence and m.status = 'streaming'
    returning m.id`);
  return new Set(Array.from(written, (r) => r.id));
}

/** The owning fence of each reply that still exists (to tell a fence loss from a turn that ended). */
export async function replyFences(db: Db, replyIds: string[]): Promise<Map<string, number>> {
  if (replyIds.length === 0) return new Map();
  const ids = JSON.stringify(replyIds);
  const rows = await db.execute<{ id: string; fence: string | number }>(sql`
    select m.id, m.fence from "messages" as m
    where m.id in (select jsonb_array_elements_text(${ids}::jsonb)::uuid)`);
  return new Map(Array.from(rows, (r) => [r.id, Number(r.fence)]));
}
