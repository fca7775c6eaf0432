import { schema } from '@turnstream/db';
import { WEBHOOK_EVENT_TYPES } from '@turnstream/webhooks';
import { z } from 'zod';
import { ERROR_CATALOG, type ErrorCode } from '../errors.ts';

/**
 * Response shapes of the `/v1` API, as the serializers in `serialize.ts` and the route handlers build
 * them. Documentation only (handlers are not validated against them); a test checks real responses
 * against the generated OpenAPI document, so the two cannot drift apart.
 */

const id = z.uuid();
const time = z.iso.datetime({ offset: true });
const mode = z.enum(['stream', 'batch']);

export const errorEnvelope = z
  .object({
    error: z.object({
      code: z.enum(Object.keys(ERROR_CATALOG) as [ErrorCode, ...ErrorCode[]]),
      message: z.string(),
      details: z.record(z.string(), z.unknown()).optional(),
    }),
  })
  .describe('An error: `code` from the catalog (docs/errors.md), a readable `message`, optional `details`.')
  .meta({ id: 'Error' });

export const session = z
  .object({ id, assistantSessionId: z.string().nullable(), version: z.int() })
  .meta({ id: 'Session' });

export const conversation = z
  .object({
    id,
    title: z.string().nullable(),
    externalId: z.string().nullable(),
    system: z.string().nullable(),
    model: z.string(),
    thinking: z.object({ budgetTokens: z.int() }).nullable(),
    mode,
    createdAt: time,
    updatedAt: time,
  })
  .meta({ id: 'Conversation' });

export const conversationWithSession = conversation
  .extend({ session: session.nullable() })
  .meta({ id: 'ConversationWithSession' });

const usage = z
  .object({
    inputTokens: z.int(),
    outputTokens: z.int(),
    cacheCreationInputTokens: z.int(),
    cacheReadInputTokens: z.int(),
  })
  .nullable();

export const message = z
  .object({
    id,
    seq: z.int(),
    role: z.enum(schema.MESSAGE_ROLES),
    content: z.string(),
    status: z.enum(schema.MESSAGE_STATUSES),
    replyTo: id.nullable(),
    mode,
    errorCode: z.string().nullable(),
    stopReason: z.string().nullable(),
    usage,
    createdAt: time,
    updatedAt: time,
    completedAt: time.nullable(),
    metadata: z
      .record(z.string(), z.string())
      .nullable()
      .describe("A user message's metadata from its producer (TurnsClient or a queue job); null otherwise."),
  })
  .meta({ id: 'Message' });

export const attempt = z
  .object({
    id,
    attempt: z.int(),
    jobId: z.string().nullable(),
    workerId: z.string(),
    fence: z.number(),
    sessionId: id.nullable(),
    assistantSessionId: z.string().nullable(),
    startedAt: time,
    endedAt: time.nullable(),
    outcome: z.string().nullable(),
    errorCode: z.string().nullable(),
    errorMessage: z.string().nullable(),
    usage: z.unknown(),
  })
  .meta({ id: 'TurnAttempt' });

export const models = z.object({
  defaultModel: z.string(),
  models: z.array(
    z.object({
      id: z.string(),
      maxOutputTokens: z.int(),
      thinkingBudget: z.object({ min: z.int(), max: z.int() }).nullable(),
    }),
  ),
});

export const conversationPage = z.object({
  conversations: z.array(conversation),
  nextCursor: id.nullable(),
});

export const sessionHistory = z.object({
  sessions: z.array(
    session.extend({
      status: z.enum(['active', 'ended']),
      parentSessionId: id.nullable(),
      endedReason: z.string().nullable(),
      createdAt: time,
      endedAt: time.nullable(),
    }),
  ),
  clears: z.array(z.object({ assistantSessionId: z.string(), reason: z.string(), clearedAt: time })),
});

export const accepted = z.object({ messageId: id, jobId: z.string(), eventsUrl: z.string() });

export const messageDetail = z.object({
  message,
  reply: message.nullable(),
  attempts: z.array(attempt).optional().describe('Admin keys only.'),
});

export const cancelOutcome = z.object({ messageId: id, status: z.enum(['cancelled', 'cancelling']) });

export const streamToken = z.object({ token: z.string(), expiresAt: time, eventsUrl: z.string() });

export const webhookEndpoint = z
  .object({
    id,
    url: z.string(),
    eventTypes: z.array(z.enum(WEBHOOK_EVENT_TYPES)),
    description: z.string().nullable(),
    createdAt: time,
  })
  .meta({ id: 'WebhookEndpoint' });

export const webhookEndpointWithSecret = webhookEndpoint.extend({
  secret: z.string().describe('`whsec_…`: shown here only.'),
});

export const rotatedWebhook = webhookEndpointWithSecret.extend({ previousSecretExpiresAt: time.nullable() });

export const webhookDeliveries = z.object({
  deliveries: z.array(
    z.object({
      id,
      webhookId: z.string(),
      eventType: z.enum(WEBHOOK_EVENT_TYPES),
      conversationId: id,
      messageId: id.nullable().describe('null for `conversation.deleted`'),
      url: z.string(),
      status: z.enum(['pending', 'delivered', 'failed']),
      createdAt: time,
      deliveredAt: time.nullable(),
      attempts: z.array(
        z.object({
          attempt: z.int(),
          outcome: z.enum(['succeeded', 'failed', 'refused']),
          statusCode: z.int().nullable(),
          error: z.string().nullable(),
          durationMs: z.int(),
          startedAt: time,
        }),
      ),
    }),
  ),
});

export const health = z.object({ status: z.literal('ok') });
export const ready = z.object({
  status: z.literal('ready'),
  checks: z.object({ postgres: z.literal('ok'), redis: z.literal('ok') }),
});

export const noContent = z.null().describe('No content.');
