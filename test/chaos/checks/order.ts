import type { AttemptRow } from '../evidence.ts';
import { type Row, row } from '../table.ts';
import { type CheckInput, label, lastUserText, type Observed } from './context.ts';

/** Outcomes an attempt records when it ends its turn (not a hand-off to another attempt). */
const ENDING = new Set(['completed', 'failed', 'cancelled']);
/** Attempts that were fenced off or died: they never held the conversation at the end. */
const DISPLACED = new Set(['lost', 'superseded']);

function endedAt(o: Observed): number | undefined {
  const ends = o.attempts.filter((a) => ENDING.has(a.outcome ?? '') && a.ended_at).map((a) => a.ended_at!);
  return ends.length ? Math.max(...ends) : undefined;
}

function conversations(input: CheckInput): Observed[][] {
  const by = new Map<string, Observed[]>();
  for (const o of input.messages)
    by.set(o.sent.conversationId, [...(by.get(o.sent.conversationId) ?? []), o]);
  return [...by.values()].map((list) => [...list].sort((a, b) => (a.user?.seq ?? 0) - (b.user?.seq ?? 0)));
}

/** The request that produced a completed reply: the last one for the message that streamed to the end. */
function answeringRequest(o: Observed) {
  return o.requests.filter((r) => r.status === 200 && !r.fault && !r.closedEarly).at(-1);
}

const inJson = (s: string) => JSON.stringify(s).slice(1, -1);

export function orderRows(input: CheckInput): Row[] {
  const seqOrder: string[] = [];
  const startedEarly: string[] = [];
  const missingContext: string[] = [];
  let pairs = 0;
  for (const conv of conversations(input)) {
    const sentOrder = conv.map((o) => o.sent.plan.index);
    if (sentOrder.some((v, i) => i > 0 && v < sentOrder[i - 1]!))
      seqOrder.push(`${label(conv[0]!)}: ${sentOrder}`);
    for (let i = 1; i < conv.length; i++) {
      const a = conv[i - 1]!;
      const b = conv[i]!;
      const aEnd = endedAt(a);
      const bStart = Math.min(...b.attempts.map((x) => x.started_at));
      if (aEnd !== undefined && bStart < aEnd)
        startedEarly.push(`${label(b)} started ${aEnd - bStart} ms before ${label(a)} ended`);
      if (a.user?.status !== 'completed' || b.user?.status !== 'completed' || a.sent.epoch !== b.sent.epoch)
        continue;
      pairs++;
      const req = answeringRequest(b);
      const sent = JSON.stringify(req?.body?.messages ?? []);
      const aReply = a.replies.find((r) => r.role === 'assistant')?.content ?? '';
      if (
        !req ||
        !lastUserText(req).includes(b.sent.plan.tag) ||
        !sent.includes(a.sent.plan.tag) ||
        !sent.includes(inJson(aReply))
      )
        missingContext.push(
          `${label(b)}: its request lacks ${label(a)}${req ? '' : ' (no answering request)'}`,
        );
    }
  }
  return [
    row('per-conversation order: stored in the order sent', seqOrder.length, 0, seqOrder),
    row(
      'per-conversation order: no turn started before the previous ended',
      startedEarly.length,
      0,
      startedEarly,
    ),
    row(
      `context: each reply's request carried the previous exchange (${pairs} pairs)`,
      missingContext.length,
      0,
      missingContext,
    ),
    ...attemptRows(input.evidence.attempts),
  ];
}

/** No two turns of one conversation held it at once; every attempt was closed. */
function attemptRows(attempts: AttemptRow[]): Row[] {
  const overlaps: string[] = [];
  const byConv = new Map<string, AttemptRow[]>();
  for (const a of attempts) byConv.set(a.conversation_id, [...(byConv.get(a.conversation_id) ?? []), a]);
  for (const list of byConv.values()) {
    const held = list
      .filter((a) => a.ended_at && !DISPLACED.has(a.outcome ?? ''))
      .sort((x, y) => x.started_at - y.started_at);
    let last: AttemptRow | undefined;
    for (const a of held) {
      if (last && a.message_id !== last.message_id && a.started_at < last.ended_at!)
        overlaps.push(
          `${a.message_id.slice(0, 8)}#${a.attempt} (${a.worker_id}) started while ${last.message_id.slice(0, 8)}#${last.attempt} (${last.worker_id}) held the conversation`,
        );
      if (!last || a.ended_at! > last.ended_at!) last = a;
    }
  }
  const open = attempts.filter((a) => !a.ended_at);
  return [
    row('overlapping turns of one conversation (turn_attempts)', overlaps.length, 0, overlaps),
    row(
      'attempts never closed',
      open.length,
      0,
      open.map((a) => `${a.message_id.slice(0, 8)}#${a.attempt} on ${a.worker_id}`),
    ),
  ];
}
