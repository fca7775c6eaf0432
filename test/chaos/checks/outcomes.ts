import { info, type Row, row } from '../table.ts';
import { type CheckInput, label, type Observed, terminalEvents } from './context.ts';

const FINAL = new Set(['completed', 'failed', 'cancelled']);

/**
 * The outcomes the run allows a message: a fatal fault fails it (it strikes every request of the
 * message, so even a takeover after the worker holding the answer died meets it); a cancel the API confirmed cancels it
 * (one still `cancelling` may lose the race to the reply); a turn running when its conversation was
 * reset may finish or be cancelled; everything else completes, whatever else happened.
 */
export function allowedOutcomes(o: Observed): string[] {
  const { plan, cancel, inflightAtReset } = o.sent;
  if (plan.fault?.kind === 'fatal') return ['failed'];
  if (cancel?.status === 200) return ['cancelled'];
  if (cancel?.status === 202) return ['cancelled', 'completed'];
  if (inflightAtReset) return ['completed', 'cancelled'];
  return ['completed'];
}

export function outcomeRows(input: CheckInput, planned: number): Row[] {
  const msgs = input.messages;
  const stored = msgs.filter((o) => o.user);
  const oneTerminal = msgs.filter(
    (o) => o.user && FINAL.has(o.user.status) && terminalEvents(o.logged).length === 1,
  );
  const wrong = msgs.filter((o) => !allowedOutcomes(o).includes(o.user?.status ?? 'missing'));
  const duplicates = msgs.filter(
    (o) =>
      o.replies.filter((r) => r.role === 'assistant').length > 1 ||
      o.logged.filter((e) => e.type === 'turn.completed').length > 1 ||
      terminalEvents(o.streamed).length > 1,
  );
  const extra = input.evidence.users.length - stored.length;
  const count = (status: string) => msgs.filter((o) => o.user?.status === status).length;
  const cancelled = msgs.filter((o) => o.sent.cancel);
  const fatal = msgs.filter((o) => o.sent.plan.fault?.kind === 'fatal');
  return [
    row('messages accepted (API 202 or enqueued)', msgs.length, planned),
    row('accepted messages stored, no others', stored.length - extra, msgs.length),
    row(
      'exactly one terminal outcome (row final + one terminal event)',
      oneTerminal.length,
      msgs.length,
      msgs
        .filter((o) => !oneTerminal.includes(o))
        .map(
          (o) =>
            `${label(o)}: ${o.user?.status ?? 'no row'}, ${terminalEvents(o.logged).length} terminal events`,
        ),
    ),
    row(
      'outcome as expected',
      msgs.length - wrong.length,
      msgs.length,
      wrong.map(
        (o) =>
          `${label(o)}: ${o.user?.status ?? 'no row'} (allowed ${allowedOutcomes(o).join('/')}; reply ${o.replies
            .map((r) => `${r.role}/${r.status}/${r.error_code ?? ''}`)
            .join(',')}; attempts ${o.attempts.map((a) => `${a.worker_id}:${a.outcome}`).join(',')})`,
      ),
    ),
    info('  completed', count('completed')),
    info(`  cancelled (of ${cancelled.length} cancels sent)`, count('cancelled')),
    info(`  failed (of ${fatal.length} given a fatal fault)`, count('failed')),
    row(
      'duplicate replies',
      duplicates.length,
      0,
      duplicates.map((o) => label(o)),
    ),
  ];
}
