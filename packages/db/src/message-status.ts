/**
 * The statuses of a message row and the transitions between them: the one home of the state machine.
 * Migration `0008_message_transitions.sql` makes the database refuse any other status change (a test
 * checks that the two agree on every pair).
 *
 * A user row's status follows its turn: `pending` until the turn ends `completed`, `failed` or
 * `cancelled`. A reply row (assistant or error) is `streaming` while a turn writes it, `interrupted`
 * between attempts (kept visible, taken over by the next attempt), and ends `completed`, `failed` or
 * `cancelled`.
 */
export const MESSAGE_STATUSES = [
  'pending',
  'streaming',
  'completed',
  'failed',
  'cancelled',
  'interrupted',
] as const;
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];

/** Statuses after which a message (user row or reply) never changes status again. */
export const FINAL_STATUSES = [
  'completed',
  'failed',
  'cancelled',
] as const satisfies readonly MessageStatus[];
export type FinalStatus = (typeof FINAL_STATUSES)[number];

/** Statuses after which a user message's turn is over. */
export const FINAL_USER_STATUSES: MessageStatus[] = [...FINAL_STATUSES];

/** Statuses of a reply row a turn may still take over or end. */
export const OPEN_REPLY_STATUSES = [
  'pending',
  'streaming',
  'interrupted',
] as const satisfies readonly MessageStatus[];

export type MessageKind = 'user' | 'reply';

/** Legal status changes by kind of row (staying in the same status is not a transition). */
export const MESSAGE_TRANSITIONS: Record<MessageKind, Record<MessageStatus, readonly MessageStatus[]>> = {
  user: {
    pending: ['completed', 'failed', 'cancelled'],
    // Older rows may carry `streaming`; it ends like `pending`.
    streaming: ['completed', 'failed', 'cancelled'],
    interrupted: [],
    completed: [],
    failed: [],
    cancelled: [],
  },
  reply: {
    pending: ['streaming', 'failed', 'cancelled'],
    streaming: ['completed', 'failed', 'cancelled', 'interrupted'],
    interrupted: ['streaming', 'failed', 'cancelled'],
    completed: [],
    failed: [],
    cancelled: [],
  },
};

export function isFinalStatus(status: MessageStatus): status is FinalStatus {
  return (FINAL_STATUSES as readonly MessageStatus[]).includes(status);
}

/** Whether a row of `kind` may go from `from` to `to` (the same status is always allowed). */
export function isLegalTransition(kind: MessageKind, from: MessageStatus, to: MessageStatus): boolean {
  return from === to || MESSAGE_TRANSITIONS[kind][from].includes(to);
}
