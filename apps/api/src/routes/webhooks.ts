import {
  createWebhookEndpoint,
  type DeliveryWithAttempts,
  deleteWebhookEndpoint,
  getWebhookEndpoint,
  isUuid,
  listWebhookDeliveries,
  listWebhookEndpoints,
  rotateWebhookSecret,
  type WebhookEndpoint,
} from '@turnstream/db';
import { checkTarget, newWebhookSecret, TargetRefusedError } from '@turnstream/webhooks';
import type { FastifyInstance } from 'fastify';
import { requirePermission } from '../auth.ts';
import type { RouteContext } from '../context.ts';
import { ApiError } from '../errors.ts';
import { createWebhookBody, emptyBody, listDeliveriesQuery, rotateWebhookSecretBody } from '../schemas.ts';
import { parseInput } from '../validation.ts';

interface IdParams {
  id: string;
}

const DEFAULT_GRACE_SECONDS = 86_400;

/**
 * Webhook endpoints of the caller's tenant. Registering, deleting and rotating need an admin key
 * (the secret signs what receivers trust); every role may list endpoints and their deliveries.
 */
export function webhookRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { db } = ctx;

  app.post('/v1/webhooks', async (request, reply) => {
    const auth = requirePermission(request, 'operate');
    const body = parseInput(createWebhookBody, request.body, 'body');
    await checkTarget(body.url, ctx.config.webhookPolicy).catch((err: unknown) => {
      if (err instanceof TargetRefusedError) {
        throw new ApiError('webhook_target_refused', {
          message: `The webhook URL is refused: ${err.message}.`,
          details: { field: 'url' },
        });
      }
      throw err;
    });
    const endpoint = await createWebhookEndpoint(db, {
      tenantId: auth.tenantId,
      url: body.url,
      eventTypes: body.eventTypes,
      description: body.description ?? null,
      secret: newWebhookSecret(),
    });
    request.log.info({ event: 'webhook.create_completed', endpointId: endpoint.id }, 'webhook registered');
    return reply.code(201).send({ ...endpointJson(endpoint), secret: endpoint.secret });
  });

  app.get('/v1/webhooks', async (request) => {
    const auth = requirePermission(request, 'read');
    return { webhooks: (await listWebhookEndpoints(db, auth.tenantId)).map(endpointJson) };
  });

  app.delete<{ Params: IdParams }>('/v1/webhooks/:id', async (request, reply) => {
    const auth = requirePermission(request, 'operate');
    parseInput(emptyBody, request.body, 'body');
    if (!isUuid(request.params.id) || !(await deleteWebhookEndpoint(db, auth.tenantId, request.params.id)))
      throw new ApiError('webhook_not_found');
    request.log.info({ event: 'webhook.delete_completed', endpointId: request.params.id }, 'webhook deleted');
    return reply.code(204).send();
  });

  app.post<{ Params: IdParams }>('/v1/webhooks/:id/rotate-secret', async (request) => {
    const auth = requirePermission(request, 'operate');
    const body = parseInput(rotateWebhookSecretBody, request.body, 'body');
    const endpoint = isUuid(request.params.id)
      ? await rotateWebhookSecret(db, {
          tenantId: auth.tenantId,
          id: request.params.id,
          secret: newWebhookSecret(),
          graceSeconds: body?.graceSeconds ?? DEFAULT_GRACE_SECONDS,
        })
      : null;
    if (!endpoint) throw new ApiError('webhook_not_found');
    request.log.info(
      { event: 'webhook.rotate_completed', endpointId: endpoint.id },
      'webhook secret rotated',
    );
    return {
      ...endpointJson(endpoint),
      secret: endpoint.secret,
      previousSecretExpiresAt: endpoint.previousSecretExpiresAt?.toISOString() ?? null,
    };
  });

  app.get<{ Params: IdParams }>('/v1/webhooks/:id/deliveries', async (request) => {
    const auth = requirePermission(request, 'read');
    const query = parseInput(listDeliveriesQuery, request.query, 'query');
    const endpoint = isUuid(request.params.id)
      ? await getWebhookEndpoint(db, auth.tenantId, request.params.id)
      : null;
    if (!endpoint) throw new ApiError('webhook_not_found');
    const deliveries = await listWebhookDeliveries(db, endpoint.id, { limit: query.limit });
    return { deliveries: deliveries.map(deliveryJson) };
  });
}

/** An endpoint as the API shows it: never its secret (shown once, at creation and rotation). */
export function endpointJson(e: WebhookEndpoint) {
  return {
    id: e.id,
    url: e.url,
    eventTypes: e.eventTypes,
    description: e.description,
    createdAt: e.createdAt.toISOString(),
  };
}

/**
 * A delivery with its attempts; the body is not shown (it may hold a reply's content). `messageId` is
 * null for `conversation.deleted`.
 */
export function deliveryJson(d: DeliveryWithAttempts) {
  return {
    id: d.id,
    webhookId: `msg_${d.id.replaceAll('-', '')}`,
    eventType: d.eventType,
    // A `conversation.deleted` delivery's subject is the conversation (its row is gone).
    conversationId: d.conversationId ?? d.messageId,
    messageId: d.conversationId === null ? null : d.messageId,
    url: d.url,
    status: d.status,
    createdAt: d.createdAt.toISOString(),
    deliveredAt: d.deliveredAt?.toISOString() ?? null,
    attempts: d.attemptList.map((a) => ({
      attempt: a.attempt,
      outcome: a.outcome,
      statusCode: a.statusCode,
      error: a.error,
      durationMs: a.durationMs,
      startedAt: a.startedAt.toISOString(),
    })),
  };
}
