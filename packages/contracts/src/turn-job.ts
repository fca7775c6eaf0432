import { z } from 'zod';
import { storableText } from './text.ts';

/** How a turn publishes its reply: `stream` sends chunks as they come, `batch` only the final message. */
export const turnModeSchema = z.enum(['stream', 'batch']);
export type TurnMode = z.infer<typeof turnModeSchema>;

const uuid = z.uuid();

/**
 * Payload of a `turns` job, version 1. Nothing about the assistant session travels here:
 * every attempt reads the session from the database when it starts.
 *
 * A job may be enqueued by another service directly (see TurnsClient); then `content`
 * carries the user message and the worker inserts it idempotently by `messageId`.
 */
export const turnJobV1Schema = z.object({
  v: z.literal(1),
  tenantId: uuid,
  conversationId: uuid,
  messageId: uuid,
  /** Omitted when the API already stored the message. */
  content: storableText().min(1).max(100_000).optional(),
  mode: turnModeSchema.default('stream'),
  /** ms since epoch when the message was accepted (for queue-latency metrics). */
  acceptedAt: z.number().int().nonnegative().optional(),
});

export const turnJobSchema = z.discriminatedUnion('v', [turnJobV1Schema]);
export type TurnJob = z.infer<typeof turnJobSchema>;
export type TurnJobInput = z.input<typeof turnJobSchema>;
