import { GLOBAL_RETRY_AFTER_MS } from '../faults.ts';
import { type Row, row } from '../table.ts';
import type { CheckInput } from './context.ts';

/**
 * Time a 429 may take to reach every worker (the worker that got it records the wait in Redis; a
 * request another worker had already sent can still arrive).
 */
export const RATE_LIMIT_GRACE_MS = 500;

/** After a 429 with retry-after, no request reaches the simulator until the time has passed. */
export function rateLimitRows(input: CheckInput): Row[] {
  const retryAfter = new Map<string, number>();
  for (const o of input.messages) {
    for (const r of o.requests)
      if (o.sent.plan.fault?.retryAfterMs) retryAfter.set(r.requestId, o.sent.plan.fault.retryAfterMs);
  }
  const requests = input.evidence.requests;
  const limited = requests.filter((r) => r.status === 429);
  const early: string[] = [];
  for (const hit of limited) {
    const wait = Math.min(retryAfter.get(hit.requestId) ?? GLOBAL_RETRY_AFTER_MS, GLOBAL_RETRY_AFTER_MS);
    const from = Date.parse(hit.endTime ?? hit.time) + RATE_LIMIT_GRACE_MS;
    const until = Date.parse(hit.endTime ?? hit.time) + wait;
    const answered = Date.parse(hit.endTime ?? hit.time);
    const inside = requests.filter((r) => Date.parse(r.time) > from && Date.parse(r.time) < until);
    if (inside.length)
      early.push(
        `429 ${hit.requestId} (retry-after ${wait} ms) answered ${hit.endTime}: then ${inside
          .map((r) => `${r.requestId} +${Date.parse(r.time) - answered} ms`)
          .join(', ')}`,
      );
  }
  return [row(`requests inside a 429's retry-after (${limited.length} 429s)`, early.length, 0, early)];
}
