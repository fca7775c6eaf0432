import type { TurnEvent } from '@turnstream/contracts';
import { type Row, row } from '../table.ts';
import { type CheckInput, label, render } from './context.ts';

/** `queued started(1) chunk×7 reset started(2) chunk×12 completed`: a turn's events at a glance. */
export function sequence(events: TurnEvent[]): string {
  const out: string[] = [];
  for (const e of events) {
    const name = e.type.replace(/^turn\./, '') + ('attempt' in e ? `(${e.attempt})` : '');
    const last = out.at(-1);
    const m = last?.match(/^(.*)×(\d+)$/);
    if (last === name) out[out.length - 1] = `${name}×2`;
    else if (m && m[1] === name) out[out.length - 1] = `${name}×${Number(m[2]) + 1}`;
    else out.push(name);
  }
  return out.join(' ');
}

/** Completed replies are the simulator's text for their request, and both event paths rebuild them. */
export function replyRows(input: CheckInput): Row[] {
  const completed = input.messages.filter((o) => o.user?.status === 'completed');
  const reply = (o: (typeof completed)[number]) => o.replies.find((r) => r.role === 'assistant')?.content;
  const wrongText = completed.filter((o) => reply(o) === undefined || reply(o) !== o.expectedReply);
  const finalEvent = (events: (typeof completed)[number]['logged']) =>
    events.find((e) => e.type === 'turn.completed') as { content?: string } | undefined;
  const viaSse = completed.filter(
    (o) => render(o.streamed) !== reply(o) || finalEvent(o.streamed)?.content !== reply(o),
  );
  const viaLog = completed.filter(
    (o) => render(o.logged) !== reply(o) || finalEvent(o.logged)?.content !== reply(o),
  );
  const outOfOrder = input.followers.reduce((n, f) => n + f.outOfOrder, 0);
  const gaps = input.followers.reduce((n, f) => n + f.gaps, 0);
  const short = (s: string | undefined) => JSON.stringify((s ?? '').slice(0, 40));
  return [
    row(
      "completed reply = the simulator's text for its request",
      completed.length - wrongText.length,
      completed.length,
      wrongText.map((o) => `${label(o)}: ${short(reply(o))} vs ${short(o.expectedReply)}`),
    ),
    row(
      'SSE client (reconnecting) rebuilt every completed reply',
      completed.length - viaSse.length,
      completed.length,
      viaSse.map((o) => `${label(o)}: rendered ${short(render(o.streamed))} from ${sequence(o.streamed)}`),
    ),
    row(
      'the Redis Stream log rebuilds every completed reply',
      completed.length - viaLog.length,
      completed.length,
      viaLog.map((o) => `${label(o)}: rendered ${short(render(o.logged))} from ${sequence(o.logged)}`),
    ),
    row('SSE events out of order or twice', outOfOrder, 0),
    row('SSE stream.gap announcements', gaps, 0),
  ];
}
