/** Job data fields shown on the queue dashboard as they are: ids, mode and timing, never content. */
const VISIBLE_FIELDS = new Set(['v', 'tenantId', 'conversationId', 'messageId', 'mode', 'acceptedAt']);

/**
 * The queue dashboard's view of a job's data: known identifying fields pass, `content` (the user's
 * message, when another service enqueued it directly) shows only its length, and anything else
 * (unknown fields may hold secrets or content) is replaced. An allow-list: new fields stay hidden
 * until they are added here.
 */
export function redactJobData(data: unknown): unknown {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    return data === undefined || data === null ? data : '[redacted]';
  }
  const out: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(data as Record<string, unknown>)) {
    if (VISIBLE_FIELDS.has(field) && (typeof value !== 'object' || value === null)) out[field] = value;
    else if (field === 'content' && typeof value === 'string')
      out[field] = `[redacted: ${value.length} chars]`;
    else out[field] = '[redacted]';
  }
  return out;
}

/** A job's return value: only the outcome fields a turn returns (status, ids) pass. */
export function redactReturnValue(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value ?? null;
  const out: Record<string, unknown> = {};
  for (const [field, v] of Object.entries(value as Record<string, unknown>)) {
    out[field] = ['outcome', 'status', 'replyId'].includes(field) && typeof v !== 'object' ? v : '[redacted]';
  }
  return out;
}
