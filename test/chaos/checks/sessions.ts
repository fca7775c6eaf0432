import { type Row, row } from '../table.ts';
import { type CheckInput, label } from './context.ts';

/** Cleared ids stay cleared; after a reset, nothing from before it reaches Claude. */
export function sessionRows(input: CheckInput): Row[] {
  const { evidence, resets } = input;
  const leaks: string[] = [];
  let checked = 0;
  for (const o of input.messages) {
    if (o.sent.epoch === 0) continue;
    const own = resets.filter((r) => r.conversationId === o.sent.conversationId);
    const before = own[o.sent.epoch - 1]?.before ?? [];
    for (const req of o.requests) {
      checked++;
      const body = JSON.stringify(req.body ?? {});
      const leaked = before.filter((tag) => body.includes(tag));
      if (leaked.length) leaks.push(`${label(o)}: request ${req.requestId} carried ${leaked.join(' ')}`);
    }
  }
  const refused = resets.filter((r) => r.status !== 200);
  return [
    row(
      'cleared assistant session id used or set again',
      evidence.attemptsOnClearedIds.length + evidence.sessionsOnClearedIds.length,
      0,
      [...evidence.attemptsOnClearedIds, ...evidence.sessionsOnClearedIds],
    ),
    row(
      `resets answered 200 (${resets.length} during a streaming turn)`,
      resets.length - refused.length,
      resets.length,
      refused.map((r) => `${r.conversationId.slice(0, 8)}: ${r.status} ${r.answer}`),
    ),
    row(`pre-reset content in a post-reset request (${checked} requests)`, leaks.length, 0, leaks),
  ];
}
