import { turnModeSchema } from '@turnstream/contracts';
import { z } from 'zod';

/** Request schemas of the `/v1` routes. Objects are strict: an unknown field is a `validation_failed`. */

export const MAX_CONTENT_CHARS = 100_000;
export const MIN_THINKING_BUDGET = 1024;

export const createConversationBody = z.strictObject({
  title: z.string().min(1).max(500).optional(),
  externalId: z.string().min(1).max(200).optional(),
  system: z.string().max(MAX_CONTENT_CHARS).optional(),
  model: z.string().min(1).max(200).optional(),
  thinking: z
    .strictObject({ budgetTokens: z.int().min(MIN_THINKING_BUDGET).max(1_000_000) })
    .nullable()
    .optional(),
  mode: turnModeSchema.optional(),
});
export type CreateConversationBody = z.infer<typeof createConversationBody>;

export const listConversationsQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  /** The `nextCursor` of the previous page (a conversation id). */
  cursor: z.uuid().optional(),
  externalId: z.string().min(1).max(200).optional(),
});

export const postMessageBody = z.strictObject({
  content: z
    .string()
    .min(1)
    .max(MAX_CONTENT_CHARS)
    .refine((s) => s.trim().length > 0, { error: 'must not be whitespace only' }),
  mode: turnModeSchema.optional(),
  /** Client-chosen id: posting the same id again is idempotent. */
  id: z.uuid().optional(),
});
export type PostMessageBody = z.infer<typeof postMessageBody>;

export const listMessagesQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(500),
  /** Only turns whose user message has a greater seq. */
  afterSeq: z.coerce.number().int().min(0).optional(),
});

export const sessionHistoryQuery = z.strictObject({
  /** The most recent this many sessions (and as many clears). */
  limit: z.coerce.number().int().min(1).max(100).default(50),
});

/** A Redis Stream id as sent in `id:` lines (`<ms>-<seq>`). */
export const eventIdSchema = z
  .string()
  .regex(/^\d{1,20}-\d{1,20}$/, { error: 'must be an event id like 1700000000000-0' });

export const eventsQuery = z.strictObject({
  /** Fallback for clients that cannot send the `Last-Event-ID` header. */
  lastEventId: eventIdSchema.optional(),
  /** `turn`: end the response after the first terminal event (of `messageId` when given). */
  until: z.literal('turn').optional(),
  /** Only this message's events. */
  messageId: z.uuid().optional(),
  /** A stream token (instead of the Authorization header); checked by the auth hook. */
  token: z.string().max(256).optional(),
});

/** Bodies of action endpoints (cancel, reset): nothing, or an empty object. */
export const emptyBody = z.strictObject({}).optional();
