import type { MessageJson, StreamEvent, TurnMode } from './types.ts';

/**
 * The turns of the open conversation as the page shows them: built from the stored history, then moved
 * on by the conversation's live events. Pure (no DOM), so it is tested on its own.
 */
export type TurnStatus = 'pending' | 'streaming' | 'completed' | 'failed' | 'cancelled';

export interface Turn {
  messageId: string;
  /** The user message's seq; null until the history has been read (a message seen only in events). */
  seq: number | null;
  /** The user's text; null until known. */
  content: string | null;
  mode: TurnMode | null;
  status: TurnStatus;
  /** The reply so far (streamed) or in full (completed, or a cancelled turn's partial). */
  reply: string;
  thinking: string;
  replyId: string | null;
  attempt: number;
  /** A failed turn's readable error. */
  error: string | null;
  /** What happened along the way (a retry, a session clear). */
  note: string | null;
  stopReason: string | null;
  usage: { inputTokens: number; outputTokens: number } | null;
}

export interface ApplyResult {
  /** The turn the event changed, if any. */
  turn: Turn | null;
  /** The event names a message the history did not have: read the history again. */
  reload: boolean;
  /** The conversation's session may have changed (read it again). */
  sessionChanged: boolean;
  /** The event ended its turn for good. */
  terminal: boolean;
}

const SETTLED: ReadonlySet<TurnStatus> = new Set(['completed', 'failed', 'cancelled']);

export function isSettled(turn: Turn): boolean {
  return SETTLED.has(turn.status);
}

function newTurn(messageId: string): Turn {
  return {
    messageId,
    seq: null,
    content: null,
    mode: null,
    status: 'pending',
    reply: '',
    thinking: '',
    replyId: null,
    attempt: 0,
    error: null,
    note: null,
    stopReason: null,
    usage: null,
  };
}

/** A user message's turn as stored: its status follows the user row, its reply the reply row. */
function turnFromHistory(user: MessageJson, reply: MessageJson | undefined): Turn {
  const turn = newTurn(user.id);
  turn.seq = user.seq;
  turn.content = user.content;
  turn.mode = user.mode;
  const userStatus = user.status;
  if (userStatus === 'completed' || userStatus === 'failed' || userStatus === 'cancelled') {
    turn.status = userStatus;
  } else {
    turn.status = reply?.status === 'streaming' ? 'streaming' : 'pending';
  }
  if (reply) {
    turn.replyId = reply.id;
    if (reply.role === 'error') turn.error = reply.content;
    else turn.reply = reply.content;
    turn.stopReason = reply.stopReason;
    turn.usage = reply.usage;
  }
  return turn;
}

const EMPTY: ApplyResult = { turn: null, reload: false, sessionChanged: false, terminal: false };

export class TurnList {
  private readonly turns = new Map<string, Turn>();
  private nextOrder = 0;
  private readonly order = new Map<string, number>();

  /** Oldest first: by seq, then turns whose seq is not known yet in the order they appeared. */
  list(): Turn[] {
    return [...this.turns.values()].sort(
      (a, b) =>
        (a.seq ?? Number.MAX_SAFE_INTEGER) - (b.seq ?? Number.MAX_SAFE_INTEGER) ||
        this.order.get(a.messageId)! - this.order.get(b.messageId)!,
    );
  }

  get(messageId: string): Turn | undefined {
    return this.turns.get(messageId);
  }

  /** true while a turn is known only from its events (its text is not known yet). */
  hasUnknownContent(): boolean {
    return [...this.turns.values()].some((t) => t.content === null);
  }

  private add(turn: Turn): Turn {
    this.turns.set(turn.messageId, turn);
    this.order.set(turn.messageId, this.nextOrder++);
    return turn;
  }

  /**
   * Merge stored messages (a page of the history, or one message with its reply). New turns are added;
   * a known turn gets its seq and text, and takes the stored state when that is final and the live
   * state is not (a live state is never moved back by an older snapshot).
   */
  mergeHistory(messages: MessageJson[]): void {
    const replies = new Map<string, MessageJson>();
    for (const m of messages) if (m.replyTo) replies.set(m.replyTo, m);
    for (const user of messages) {
      if (user.role !== 'user') continue;
      const stored = turnFromHistory(user, replies.get(user.id));
      const known = this.turns.get(user.id);
      if (!known) {
        this.add(stored);
        continue;
      }
      known.seq = stored.seq;
      known.content = stored.content;
      known.mode = stored.mode;
      if (isSettled(stored) && !isSettled(known)) Object.assign(known, stored);
      else if (isSettled(stored)) {
        known.usage = stored.usage ?? known.usage;
        known.stopReason = stored.stopReason ?? known.stopReason;
      }
    }
  }

  /** A message this page just posted (its events may already have created the turn). */
  addPosted(messageId: string, content: string, mode: TurnMode): Turn {
    const turn = this.turns.get(messageId) ?? this.add(newTurn(messageId));
    turn.content = content;
    turn.mode = mode;
    return turn;
  }

  /** Move a turn on by one event of the conversation's stream. */
  apply(event: StreamEvent): ApplyResult {
    if (event.type === 'stream.gap') return { ...EMPTY, reload: true };
    const messageId = event.data.messageId;
    if (typeof messageId !== 'string') return EMPTY;
    let turn = this.turns.get(messageId);
    let reload = false;
    if (!turn) {
      turn = this.add(newTurn(messageId));
      reload = true;
    } else if (isSettled(turn)) {
      // A replayed event of a turn that ended before this page followed it: the stored state stands.
      return EMPTY;
    }
    const result = applyToTurn(turn, event);
    return { ...result, turn, reload };
  }
}

function str(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/** `at 12:00:05` for an ISO time (local clock), `soon` when there is none. */
function at(iso: unknown): string {
  const time = typeof iso === 'string' ? new Date(iso) : null;
  return time && !Number.isNaN(time.getTime()) ? `at ${time.toLocaleTimeString()}` : 'soon';
}

function applyToTurn(turn: Turn, event: StreamEvent): Omit<ApplyResult, 'turn' | 'reload'> {
  const d = event.data;
  const plain = { sessionChanged: false, terminal: false };
  const ended = { sessionChanged: true, terminal: true };
  switch (event.type) {
    case 'turn.started':
      turn.status = 'streaming';
      turn.reply = '';
      turn.thinking = '';
      turn.replyId = str(d.replyId) || null;
      turn.attempt = typeof d.attempt === 'number' ? d.attempt : turn.attempt + 1;
      turn.note = turn.attempt > 1 ? `attempt ${turn.attempt}` : null;
      return plain;
    case 'chunk':
      turn.status = 'streaming';
      turn.reply += str(d.text);
      return plain;
    case 'thinking':
      turn.status = 'streaming';
      turn.thinking += str(d.text);
      return plain;
    case 'turn.reset':
      turn.reply = '';
      turn.thinking = '';
      turn.note = `reply restarted (${str(d.reason)})`;
      return plain;
    case 'session.cleared':
      turn.note = `session cleared (${str(d.reason)}); rebuilt from the history`;
      return { sessionChanged: true, terminal: false };
    case 'turn.completed':
      turn.status = 'completed';
      turn.reply = str(d.content);
      turn.replyId = str(d.replyId) || turn.replyId;
      turn.stopReason = typeof d.stopReason === 'string' ? d.stopReason : null;
      return ended;
    case 'turn.retrying':
      // No attempt runs until the retry: the turn waits again.
      turn.status = 'pending';
      turn.note = `attempt ${String(d.attempt)} failed (${str(d.code)}); retrying ${at(d.retryAt)}`;
      return plain;
    case 'turn.rate_limited':
      turn.status = 'pending';
      turn.note = `rate limited; calling Claude again ${at(d.retryAt)}`;
      return plain;
    case 'turn.failed':
      turn.status = 'failed';
      turn.error = `${str(d.error)} (${str(d.code)})`;
      return ended;
    case 'turn.cancelled':
      turn.status = 'cancelled';
      turn.replyId = str(d.replyId) || turn.replyId;
      return ended;
    default:
      return plain;
  }
}
