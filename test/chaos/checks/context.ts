import type { LoggedRequest } from '@turnstream/claude-sim';
import { isTerminalEvent, type TurnEvent } from '@turnstream/contracts';
import type { ResetRecord, SentMessage } from '../driver.ts';
import type { AttemptRow, Evidence, ReplyRow, UserRow } from '../evidence.ts';
import type { ConversationFollower } from '../follower.ts';

/** One sent message with everything observed about it. */
export interface Observed {
  sent: SentMessage;
  user: UserRow | undefined;
  replies: ReplyRow[];
  attempts: AttemptRow[];
  /** Its events in the durable log. */
  logged: TurnEvent[];
  /** Its events as the SSE client received them. */
  streamed: TurnEvent[];
  /** Requests the simulator received for it (the last user message carries its tag), in order. */
  requests: LoggedRequest[];
  /** What the fault-free simulator answers to its text. */
  expectedReply: string | undefined;
}

export interface CheckInput {
  messages: Observed[];
  evidence: Evidence;
  resets: ResetRecord[];
  followers: ConversationFollower[];
}

export function lastUserText(req: LoggedRequest): string {
  const msgs = (req.body?.messages ?? []) as Array<{ role: string; content: unknown }>;
  const last = [...msgs].reverse().find((m) => m.role === 'user');
  if (!last) return '';
  if (typeof last.content === 'string') return last.content;
  return (last.content as Array<{ type: string; text?: string }>)
    .filter((b) => b.type === 'text')
    .map((b) => b.text ?? '')
    .join('');
}

const TAG = /#c\d+\.m\d+#/g;

export function observe(
  sent: SentMessage[],
  evidence: Evidence,
  followers: Map<string, ConversationFollower>,
  expected: Map<string, string>,
  resets: ResetRecord[],
): CheckInput {
  const users = new Map(evidence.users.map((u) => [u.id, u]));
  const group = <T>(items: T[], key: (t: T) => string) => {
    const m = new Map<string, T[]>();
    for (const i of items) m.set(key(i), [...(m.get(key(i)) ?? []), i]);
    return m;
  };
  const replies = group(evidence.replies, (r) => r.reply_to);
  const attempts = group(evidence.attempts, (a) => a.message_id);
  const byTag = new Map<string, LoggedRequest[]>();
  for (const req of evidence.requests) {
    const tag = lastUserText(req).match(TAG)?.[0];
    if (tag) byTag.set(tag, [...(byTag.get(tag) ?? []), req]);
  }
  const logged = new Map<string, TurnEvent[]>();
  for (const events of evidence.logs.values()) {
    for (const { event } of events)
      logged.set(event.messageId, [...(logged.get(event.messageId) ?? []), event]);
  }
  return {
    messages: sent.map((s) => ({
      sent: s,
      user: users.get(s.id),
      replies: replies.get(s.id) ?? [],
      attempts: attempts.get(s.id) ?? [],
      logged: logged.get(s.id) ?? [],
      streamed: followers.get(s.conversationId)?.events(s.id) ?? [],
      requests: byTag.get(s.plan.tag) ?? [],
      expectedReply: expected.get(s.id),
    })),
    evidence,
    resets,
    followers: [...followers.values()],
  };
}

export function terminalEvents(events: TurnEvent[]): TurnEvent[] {
  return events.filter(isTerminalEvent);
}

/** What a client renders: chunk texts, dropping what it had at each `turn.reset`. */
export function render(events: TurnEvent[]): string {
  let text = '';
  for (const e of events) {
    if (e.type === 'turn.reset') text = '';
    else if (e.type === 'chunk') text += e.text;
  }
  return text;
}

export function label(o: Observed): string {
  return `${o.sent.plan.tag} ${o.sent.id.slice(0, 8)} (${o.sent.conversation.channel})`;
}
