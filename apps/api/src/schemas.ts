import { MIN_THINKING_BUDGET, storableText, turnModeSchema } from '@turnstream/contracts';
import { isStreamId } from '@turnstream/streams';
import { urlProblem, WEBHOOK_EVENT_TYPES } from '@turnstream/webhooks';
import { z } from 'zod';

/**
 * Request schemas of the `/v1` routes. Objects are strict: an unknown field is a `validation_failed`.
 * Every string is {@link storableText} (no NUL, no unpaired surrogates: rejected, never altered), and
 * every number is range-checked.
 */

/** Largest value of a Postgres `integer` (message seqs). */
export const MAX_INT4 = 2_147_483_647;

/**
 * A whole-number query parameter: decimal digits only (no sign, exponent, spaces or hex), within
 * [min, max]. Anything else is a `validation_failed` that states the range.
 */
export function queryInt(min: number, max: number) {
  const message = `must be an integer from ${min} to ${max}`;
  return z
    .string({ error: message })
    .refine((s) => /^\d{1,10}$/.test(s) && Number(s) >= min && Number(s) <= max, { error: message })
    .transform(Number);
}

export const MAX_CONTENT_CHARS = 100_000;

/** An absolute http(s) URL without credentials or fragment (where it points is checked separately). */
export function webhookUrl() {
  return storableText().superRefine((value, c) => {
    const problem = urlProblem(value);
    if (problem) c.addIssue({ code: 'custom', message: problem });
  });
}

export const createWebhookBody = z.strictObject({
  url: webhookUrl(),
  eventTypes: z
    .array(z.enum(WEBHOOK_EVENT_TYPES))
    .min(1)
    .max(WEBHOOK_EVENT_TYPES.length)
    .refine((types) => new Set(types).size === types.length, { error: 'must not repeat a type' }),
  description: storableText().max(500).optional(),
});

export const rotateWebhookSecretBody = z
  .strictObject({
    /** How long the previous secret keeps signing too (0: stops at once). Default one day. */
    graceSeconds: z
      .int()
      .min(0)
      .max(7 * 86_400)
      .optional(),
  })
  .optional();

export const listDeliveriesQuery = z.strictObject({
  limit: queryInt(1, 100).default(50),
});
export const MAX_IDEMPOTENCY_KEY_CHARS = 200;

export const createConversationBody = z.strictObject({
  title: storableText().min(1).max(500).optional(),
  externalId: storableText().min(1).max(200).optional(),
  system: storableText().max(MAX_CONTENT_CHARS).optional(),
  model: storableText().min(1).max(200).optional(),
  thinking: z
    .strictObject({ budgetTokens: z.int().min(MIN_THINKING_BUDGET).max(1_000_000) })
    .nullable()
    .optional(),
  mode: turnModeSchema.optional(),
});
export type CreateConversationBody = z.infer<typeof createConversationBody>;

export const listConversationsQuery = z.strictObject({
  limit: queryInt(1, 100).default(20),
  /** The `nextCursor` of the previous page (a conversation id). */
  cursor: z.uuid().optional(),
  externalId: storableText().min(1).max(200).optional(),
});

export const postMessageBody = z.strictObject({
  content: storableText()
    .min(1)
    .max(MAX_CONTENT_CHARS)
    .refine((s) => s.trim().length > 0, { error: 'must not be whitespace only' }),
  mode: turnModeSchema.optional(),
  /**
   * Makes the post idempotent: the same key again (same conversation, same content) answers the same
   * message and creates nothing. Scoped to the tenant. Also accepted as the `Idempotency-Key` header.
   */
  idempotencyKey: storableText().min(1).max(MAX_IDEMPOTENCY_KEY_CHARS).optional(),
  /**
   * Also deliver this turn's outcome here, signed like a webhook. Must be on the origin (scheme, host,
   * port) of one of the tenant's webhook endpoints, whose secret signs it.
   */
  callbackUrl: webhookUrl().optional(),
});

/** The `Idempotency-Key` header of `POST /messages` (the body's `idempotencyKey` may carry it too). */
export const idempotencyKeyHeader = storableText().min(1).max(MAX_IDEMPOTENCY_KEY_CHARS).optional();
export type PostMessageBody = z.infer<typeof postMessageBody>;

export const listMessagesQuery = z.strictObject({
  limit: queryInt(1, 500).default(500),
  /** Only turns whose user message has a greater seq. */
  afterSeq: queryInt(0, MAX_INT4).optional(),
});

export const sessionHistoryQuery = z.strictObject({
  /** The most recent this many sessions (and as many clears). */
  limit: queryInt(1, 100).default(50),
});

const EVENT_ID_MESSAGE = 'must be an event id like 1700000000000-0';

/** A Redis Stream id as sent in `id:` lines (`<ms>-<seq>`, each part an unsigned 64-bit integer). */
export const eventIdSchema = z
  .string({ error: EVENT_ID_MESSAGE })
  .refine((s) => /^\d{1,20}-\d{1,20}$/.test(s) && isStreamId(s), { error: EVENT_ID_MESSAGE });

export const eventsQuery = z.strictObject({
  /** Fallback for clients that cannot send the `Last-Event-ID` header. */
  lastEventId: eventIdSchema.optional(),
  /** `turn`: end the response after the first terminal event (of `messageId` when given). */
  until: z.literal('turn').optional(),
  /** Only this message's events. */
  messageId: z.uuid().optional(),
  /** A stream token (instead of the Authorization header); checked by the auth hook. */
  token: storableText().max(256).optional(),
});

/** Bodies of action endpoints (cancel, reset): nothing, or an empty object. */
export const emptyBody = z.strictObject({}).optional();
