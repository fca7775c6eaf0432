import { z } from 'zod';
import type { Permission } from '../auth.ts';
import {
  createConversationBody,
  createWebhookBody,
  emptyBody,
  eventIdSchema,
  eventsQuery,
  idempotencyKeyHeader,
  listConversationsQuery,
  listDeliveriesQuery,
  listMessagesQuery,
  postMessageBody,
  rotateWebhookSecretBody,
  sessionHistoryQuery,
} from '../schemas.ts';
import * as r from './resources.ts';

/** One documented operation: what the README's endpoint table and the OpenAPI document say about a route. */
export interface Operation {
  summary: string;
  tags: string[];
  /** What the key's role must allow (null: no key). */
  permission: Permission | null;
  body?: z.ZodType;
  querystring?: z.ZodType;
  headers?: z.ZodType;
  /** Success responses by status; every operation also answers the error envelope (`default`). */
  responses: Record<
    number,
    z.ZodType | { description: string; content: Record<string, { schema: z.ZodType }> }
  >;
}

const conversationId = z.object({ id: z.uuid().describe('The conversation id.') });
const messageIds = conversationId.extend({ messageId: z.uuid().describe('The user message id.') });
const webhookId = z.object({ id: z.uuid().describe('The webhook endpoint id.') });

/** Path parameters of a route pattern (documentation only: a malformed id answers the resource's 404). */
export function paramsOf(path: string): z.ZodType | undefined {
  if (path.includes(':messageId')) return messageIds;
  if (path.startsWith('/v1/webhooks/:id')) return webhookId;
  if (path.includes(':id')) return conversationId;
  return undefined;
}

/** Every documented route, keyed by `METHOD /pattern`. A test fails when a `/v1` route is missing here. */
export const OPERATIONS: Record<string, Operation> = {
  'GET /healthz': {
    summary: 'The process is up and can recover by itself (503 not_live: restart it)',
    tags: ['health'],
    permission: null,
    responses: { 200: r.health },
  },
  'GET /readyz': {
    summary: 'Postgres and Redis answer (503 not_ready naming which does not)',
    tags: ['health'],
    permission: null,
    responses: { 200: r.ready },
  },
  'GET /v1/models': {
    summary: 'Models conversations may use',
    tags: ['conversations'],
    permission: 'read',
    responses: { 200: r.models },
  },
  'POST /v1/conversations': {
    summary: 'Create a conversation',
    tags: ['conversations'],
    permission: 'write',
    body: createConversationBody,
    responses: { 201: r.conversationWithSession },
  },
  'GET /v1/conversations': {
    summary: 'List conversations, newest first',
    tags: ['conversations'],
    permission: 'read',
    querystring: listConversationsQuery,
    responses: { 200: r.conversationPage },
  },
  'GET /v1/conversations/:id': {
    summary: 'A conversation with its active session',
    tags: ['conversations'],
    permission: 'read',
    responses: { 200: r.conversationWithSession },
  },
  'DELETE /v1/conversations/:id': {
    summary: 'Delete a conversation and everything of it (unfinished turns cancelled first)',
    tags: ['conversations'],
    permission: 'write',
    body: emptyBody,
    responses: { 204: r.noContent },
  },
  'POST /v1/conversations/:id/reset': {
    summary: 'End the session and start a new one (the history stays)',
    tags: ['sessions'],
    permission: 'write',
    body: emptyBody,
    responses: { 200: z.object({ session: r.session }) },
  },
  'GET /v1/conversations/:id/sessions': {
    summary: "The conversation's sessions and cleared assistant sessions",
    tags: ['sessions'],
    permission: 'read',
    querystring: sessionHistoryQuery,
    responses: { 200: r.sessionHistory },
  },
  'POST /v1/conversations/:id/messages': {
    summary: 'Post a message: stored, then its turn is queued',
    tags: ['messages'],
    permission: 'write',
    body: postMessageBody,
    headers: z.object({
      'idempotency-key': idempotencyKeyHeader.describe(
        "The body's idempotencyKey, as a header (both given: equal).",
      ),
    }),
    responses: { 202: r.accepted },
  },
  'GET /v1/conversations/:id/messages': {
    summary: 'The visible history',
    tags: ['messages'],
    permission: 'read',
    querystring: listMessagesQuery,
    responses: { 200: z.object({ messages: z.array(r.message) }) },
  },
  'GET /v1/conversations/:id/messages/:messageId': {
    summary: 'A message, its reply and (admin keys) its attempts',
    tags: ['messages'],
    permission: 'read',
    responses: { 200: r.messageDetail },
  },
  'POST /v1/conversations/:id/messages/:messageId/cancel': {
    summary: 'Cancel a turn wherever it runs',
    tags: ['messages'],
    permission: 'write',
    body: emptyBody,
    responses: { 200: r.cancelOutcome, 202: r.cancelOutcome },
  },
  'GET /v1/conversations/:id/events': {
    summary: "The conversation's events (Server-Sent Events), resumable with Last-Event-ID",
    tags: ['events'],
    permission: 'read',
    querystring: eventsQuery,
    headers: z.object({
      'last-event-id': eventIdSchema.optional().describe('Resume strictly after this event id.'),
    }),
    responses: {
      200: {
        description:
          'An event stream: `id:` (log id), `event:` (type), `data:` (the event as JSON). Besides the turn ' +
          'events: `stream.gap` (the resume id is no longer in the log: reload the history), and, as the last ' +
          'event, `stream.overflow` (too slow), `stream.revoked` (key revoked) or `stream.error` ' +
          '(`{code: "stream_unavailable", message, lastEventId}`: Redis could not be read; reconnect with ' +
          'Last-Event-ID = lastEventId). See the API README, Events.',
        content: { 'text/event-stream': { schema: z.string() } },
      },
    },
  },
  'POST /v1/conversations/:id/stream-tokens': {
    summary: "A read-only token for this conversation's events (EventSource)",
    tags: ['events'],
    permission: 'read',
    body: emptyBody,
    responses: { 201: r.streamToken },
  },
  'POST /v1/webhooks': {
    summary: 'Register a webhook endpoint (the secret is shown once)',
    tags: ['webhooks'],
    permission: 'operate',
    body: createWebhookBody,
    responses: { 201: r.webhookEndpointWithSecret },
  },
  'GET /v1/webhooks': {
    summary: "The tenant's webhook endpoints",
    tags: ['webhooks'],
    permission: 'read',
    responses: { 200: z.object({ webhooks: z.array(r.webhookEndpoint) }) },
  },
  'DELETE /v1/webhooks/:id': {
    summary: 'Delete a webhook endpoint and its deliveries',
    tags: ['webhooks'],
    permission: 'operate',
    body: emptyBody,
    responses: { 204: r.noContent },
  },
  'POST /v1/webhooks/:id/rotate-secret': {
    summary: 'A new signing secret (the old one signs too for the grace period)',
    tags: ['webhooks'],
    permission: 'operate',
    body: rotateWebhookSecretBody,
    responses: { 200: r.rotatedWebhook },
  },
  'GET /v1/webhooks/:id/deliveries': {
    summary: "An endpoint's deliveries with their attempts, newest first",
    tags: ['webhooks'],
    permission: 'read',
    querystring: listDeliveriesQuery,
    responses: { 200: r.webhookDeliveries },
  },
};
