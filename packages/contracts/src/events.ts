import { z } from 'zod';

/**
 * Events of a conversation, as published by workers to packages/streams and forwarded over SSE.
 * Every event carries the `messageId` of the user message whose turn produced it.
 * The event id is assigned by the durable log (a Redis Stream id) and is not part of the body.
 */
const base = { messageId: z.string() };

/** The message is stored and its turn queued. */
export const turnQueuedEvent = z.object({ type: z.literal('turn.queued'), ...base });
/** An attempt of the turn started (`attempt` is 1-based); the reply row is `replyId`. */
export const turnStartedEvent = z.object({
  type: z.literal('turn.started'),
  ...base,
  replyId: z.string(),
  attempt: z.number().int(),
});
/** Text of the reply, in order (stream mode only). */
export const chunkEvent = z.object({ type: z.literal('chunk'), ...base, text: z.string() });
/** Thinking text, in order (stream mode with thinking only). */
export const thinkingEvent = z.object({ type: z.literal('thinking'), ...base, text: z.string() });
/** Chunks published so far for this turn are void: a retry starts the reply again. */
export const turnResetEvent = z.object({ type: z.literal('turn.reset'), ...base, reason: z.string() });
/** The conversation's assistant session was cleared (`reason`); the next call rebuilds it from history. */
export const sessionClearedEvent = z.object({
  type: z.literal('session.cleared'),
  ...base,
  reason: z.string(),
});
/** The reply is complete. Terminal. */
export const turnCompletedEvent = z.object({
  type: z.literal('turn.completed'),
  ...base,
  replyId: z.string(),
  /** The full reply text (always present; in batch mode it is the only content event). */
  content: z.string(),
  stopReason: z.string().nullable(),
});
/** The turn failed for good: the reply is an error message the user can read (`error`). Always final. */
export const turnFailedEvent = z.object({
  type: z.literal('turn.failed'),
  ...base,
  code: z.string(),
  error: z.string(),
});
/**
 * This attempt failed and another one follows at about `retryAt` (ISO 8601): keep listening. A
 * `turn.reset` precedes it when chunks of the failed attempt were published. Never final.
 */
export const turnRetryingEvent = z.object({
  type: z.literal('turn.retrying'),
  ...base,
  code: z.string(),
  /** The attempt that failed (1-based); the next one is `attempt + 1`. */
  attempt: z.number().int(),
  retryAt: z.string(),
});
/**
 * Claude's rate limit for this deployment's API key is reached: the turn waits, keeping its attempt,
 * and calls again at `retryAt` (ISO 8601). Never final.
 */
export const turnRateLimitedEvent = z.object({
  type: z.literal('turn.rate_limited'),
  ...base,
  retryAt: z.string(),
});
/** The turn was cancelled; a partial reply is kept as `replyId` (null when none started). Terminal. */
export const turnCancelledEvent = z.object({
  type: z.literal('turn.cancelled'),
  ...base,
  replyId: z.string().nullable(),
});

/** Any event of a conversation's log, told apart by `type`. */
export const turnEventSchema = z.discriminatedUnion('type', [
  turnQueuedEvent,
  turnStartedEvent,
  chunkEvent,
  thinkingEvent,
  turnResetEvent,
  sessionClearedEvent,
  turnCompletedEvent,
  turnFailedEvent,
  turnRetryingEvent,
  turnRateLimitedEvent,
  turnCancelledEvent,
]);
/** An event of a conversation's log (see {@link turnEventSchema}). */
export type TurnEvent = z.infer<typeof turnEventSchema>;
/** The `type` of a {@link TurnEvent}. */
export type TurnEventType = TurnEvent['type'];

/** An event as delivered: its body plus the durable log id. */
export interface DeliveredEvent {
  /** The log id (a Redis Stream id): resume after it. */
  id: string;
  /** The event. */
  event: TurnEvent;
}

/** Events after which no more events follow for that message's turn: exactly one per turn. */
export const TERMINAL_EVENT_TYPES: ReadonlySet<TurnEventType> = new Set([
  'turn.completed',
  'turn.failed',
  'turn.cancelled',
]);

/** A text delta of the reply (`chunk`) or of its thinking (`thinking`). */
export type DeltaEvent = Extract<TurnEvent, { type: 'chunk' | 'thinking' }>;

/** true for a text delta: what merges, and what nothing but the stream itself counts. */
export function isDeltaEvent(event: TurnEvent): event is DeltaEvent {
  return event.type === 'chunk' || event.type === 'thinking';
}

/** true when the event ends its turn for good. */
export function isTerminalEvent(event: TurnEvent): boolean {
  return TERMINAL_EVENT_TYPES.has(event.type);
}
