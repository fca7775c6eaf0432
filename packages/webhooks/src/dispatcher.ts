import { duplicateRedis, type RedisClient } from '@turnstream/config';
import {
  createWebhookDeliveries,
  type Db,
  endpointsForEvent,
  getMessageForWebhook,
  getReply,
  getWebhookDelivery,
  getWebhookEndpointById,
  listWebhookEndpoints,
  recordWebhookAttempt,
  type WebhookEndpoint,
} from '@turnstream/db';
import type { Logger } from '@turnstream/logger';
import { DelayedError, type Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import { EndpointSlots } from './endpoint-slots.ts';
import {
  type ConversationDeletedFanoutJob,
  DEFAULT_RETRY_POLICY,
  DELIVER_JOB,
  type DeliverJob,
  type DeliveryRetryPolicy,
  enqueueDelivery,
  FANOUT_JOB,
  type FanoutJob,
  WEBHOOK_FANOUT_QUEUE,
  WEBHOOKS_QUEUE,
} from './jobs.ts';
import { conversationDeletedPayload, turnOutcomePayload } from './payload.ts';
import { sendWebhook } from './send.ts';
import { signedHeaders } from './sign.ts';
import type { TargetPolicy } from './targets.ts';

export interface DispatcherOptions {
  db: Db;
  /** Duplicated for the dispatcher's queue and worker (closed by `close()`). */
  connection: RedisClient;
  bullPrefix: string;
  logger: Logger;
  policy: TargetPolicy;
  /** Names of the delivery and fan-out queues (defaults: `webhooks`, `webhook-fanout`). */
  queueName?: string;
  fanoutQueueName?: string;
  /**
   * Deliveries in flight at once (a hanging receiver holds one until `timeoutMs`). Default 10; 0: no
   * consumer here (only the producer queue, for {@link withWebhookNotices}).
   */
  concurrency?: number;
  /** Deliveries in flight at once per endpoint, across every process. Default 2. */
  endpointConcurrency?: number;
  /** Time for one attempt, connection to status line. Default 10 s. */
  timeoutMs?: number;
  retry?: DeliveryRetryPolicy;
}

export interface WebhookDispatcher {
  /** The fan-out queue (producer side): what {@link withWebhookNotices} adds to. */
  readonly fanoutQueue: Queue;
  close(): Promise<void>;
}

/**
 * Consume the webhooks queue: fan-outs become one delivery per target (the tenant's endpoints that take
 * the event type, and the message's `callbackUrl` on an endpoint's origin), and each delivery is POSTed,
 * signed, and retried by BullMQ with exponential backoff until it succeeds or its attempts run out.
 * Every attempt is recorded. Runs on its own queue and connections: turns never wait for it.
 */
export function createWebhookDispatcher(opts: DispatcherOptions): WebhookDispatcher {
  const queueName = opts.queueName ?? WEBHOOKS_QUEUE;
  const fanoutQueueName = opts.fanoutQueueName ?? WEBHOOK_FANOUT_QUEUE;
  const retry = opts.retry ?? DEFAULT_RETRY_POLICY;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  // BullMQ leaves connections it was given open: these are ours.
  const queueConnection = duplicateRedis(opts.connection, { maxRetriesPerRequest: null });
  const connections = [queueConnection];
  const queue = new Queue(queueName, { connection: queueConnection, prefix: opts.bullPrefix });
  const fanoutQueue = new Queue(fanoutQueueName, { connection: queueConnection, prefix: opts.bullPrefix });
  // Connection errors are the caller's connection's to report; BullMQ and ioredis reconnect.
  queueConnection.on('error', () => {});
  for (const emitter of [queue, fanoutQueue]) emitter.on('error', () => {});
  const slots = new EndpointSlots(
    queueConnection,
    `${opts.bullPrefix}:${queueName}`,
    opts.endpointConcurrency ?? 2,
    timeoutMs + 30_000,
  );
  const log = opts.logger;

  async function fanout(job: FanoutJob): Promise<number> {
    const message = await getMessageForWebhook(opts.db, job.messageId);
    // Deleted since (its conversation was), or not a user message: nothing to tell.
    if (message?.role !== 'user') return 0;
    const targets = (await endpointsForEvent(opts.db, message.tenantId, job.type)).map((e) => ({
      endpointId: e.id,
      url: e.url,
    }));
    if (message.callbackUrl) {
      const endpoint = endpointOnOrigin(
        await listWebhookEndpoints(opts.db, message.tenantId),
        message.callbackUrl,
      );
      if (endpoint) targets.push({ endpointId: endpoint.id, url: message.callbackUrl });
      else
        log.warn(
          { event: 'webhook.callback_skipped', messageId: message.id },
          'callbackUrl is on no endpoint origin of the tenant',
        );
    }
    if (targets.length === 0) return 0;
    const payload = turnOutcomePayload(job, message, await getReply(opts.db, message.id));
    return createDeliveries(
      targets.map((t) => ({
        ...t,
        tenantId: message.tenantId,
        conversationId: message.conversationId,
        messageId: message.id,
        eventType: job.type,
        payload,
      })),
    );
  }

  /** A deleted conversation: its tenant's endpoints subscribed to `conversation.deleted`. */
  async function fanoutConversationDeleted(job: ConversationDeletedFanoutJob): Promise<number> {
    const payload = conversationDeletedPayload(job);
    const endpoints = await endpointsForEvent(opts.db, job.tenantId, job.type);
    return createDeliveries(
      endpoints.map((e) => ({
        endpointId: e.id,
        url: e.url,
        tenantId: job.tenantId,
        // The conversation row is gone: the delivery names it as its subject.
        conversationId: null,
        messageId: job.conversationId,
        eventType: job.type,
        payload,
      })),
    );
  }

  async function createDeliveries(rows: Parameters<typeof createWebhookDeliveries>[1]): Promise<number> {
    const deliveries = await createWebhookDeliveries(opts.db, rows);
    for (const delivery of deliveries) {
      if (delivery.status === 'pending') await enqueueDelivery(queue, delivery.id, retry);
    }
    return deliveries.length;
  }

  async function deliver(job: Job<DeliverJob>, token: string | undefined): Promise<string> {
    const delivery = await getWebhookDelivery(opts.db, job.data.deliveryId);
    if (delivery?.status !== 'pending') return 'gone';
    const endpoint = await getWebhookEndpointById(opts.db, delivery.endpointId);
    if (!endpoint) return 'gone';
    const holder = job.id ?? delivery.id;
    if (!(await slots.acquire(endpoint.id, holder))) {
      // The endpoint's slots are held (a slow receiver, or a burst): wait without spending an attempt,
      // until a slot's release wakes this job (oldest first), or the backed-off wait ends.
      await slots.waiting(endpoint.id, holder);
      const wait = slotWaitMs(job.attemptsStarted - job.attemptsMade);
      await job.moveToDelayed(Date.now() + wait + Math.floor(Math.random() * wait * 0.25), token);
      throw new DelayedError();
    }
    await slots.notWaiting(endpoint.id, holder).catch(() => undefined);
    try {
      return await attemptDelivery(job, delivery, endpoint);
    } finally {
      await slots.release(endpoint.id, holder).catch(() => undefined);
      await wakeNext(endpoint.id).catch(() => undefined);
    }
  }

  /** Promote the endpoint's longest-waiting delivery now that a slot is free. */
  async function wakeNext(endpointId: string): Promise<void> {
    for (let tries = 0; tries < 3; tries++) {
      const jobId = await slots.nextWaiting(endpointId);
      if (!jobId) return;
      const waiting = await queue.getJob(jobId);
      if (waiting && (await waiting.isDelayed())) {
        await waiting.promote();
        return;
      }
    }
  }

  async function attemptDelivery(
    job: Job<DeliverJob>,
    delivery: NonNullable<Awaited<ReturnType<typeof getWebhookDelivery>>>,
    endpoint: WebhookEndpoint,
  ): Promise<string> {
    const attempt = job.attemptsMade + 1;
    const body = JSON.stringify(delivery.payload);
    const startedAt = new Date();
    const headers = signedHeaders(
      `msg_${delivery.id.replaceAll('-', '')}`,
      body,
      secretsOf(endpoint),
      startedAt,
    );
    const result = await sendWebhook(delivery.url, body, headers, { policy: opts.policy, timeoutMs });
    const final = result.outcome === 'refused' || attempt >= (job.opts.attempts ?? 1);
    await recordWebhookAttempt(opts.db, {
      deliveryId: delivery.id,
      attempt,
      outcome: result.outcome,
      statusCode: result.statusCode,
      error: result.error,
      durationMs: result.durationMs,
      startedAt,
      final: result.outcome === 'succeeded' || final,
    });
    const fields = {
      deliveryId: delivery.id,
      endpointId: endpoint.id,
      attempt,
      statusCode: result.statusCode,
      durationMs: result.durationMs,
    };
    if (result.outcome === 'succeeded') {
      log.info({ event: 'webhook.delivery_completed', ...fields }, 'webhook delivered');
      return 'delivered';
    }
    log.warn(
      { event: 'webhook.delivery_failed', ...fields, error: result.error, final },
      'webhook attempt failed',
    );
    if (result.outcome === 'refused') throw new UnrecoverableError(result.error ?? 'target refused');
    throw new Error(result.error ?? 'delivery failed');
  }

  const concurrency = opts.concurrency ?? 10;
  const workers: Worker[] = [];
  if (concurrency > 0) {
    const fanoutConnection = duplicateRedis(opts.connection, { maxRetriesPerRequest: null });
    const deliveryConnection = duplicateRedis(opts.connection, { maxRetriesPerRequest: null });
    connections.push(fanoutConnection, deliveryConnection);
    for (const c of [fanoutConnection, deliveryConnection]) c.on('error', () => {});
    workers.push(
      new Worker(
        fanoutQueueName,
        async (job) => {
          if (job.name !== FANOUT_JOB)
            throw new UnrecoverableError(`unknown webhook fan-out job "${job.name}"`);
          const data = job.data as FanoutJob | ConversationDeletedFanoutJob;
          return data.type === 'conversation.deleted' ? fanoutConversationDeleted(data) : fanout(data);
        },
        { connection: fanoutConnection, prefix: opts.bullPrefix, concurrency: 4 },
      ),
      new Worker(
        queueName,
        async (job, token) => {
          if (job.name === DELIVER_JOB) return deliver(job as Job<DeliverJob>, token);
          throw new UnrecoverableError(`unknown webhook job "${job.name}"`);
        },
        { connection: deliveryConnection, prefix: opts.bullPrefix, concurrency },
      ),
    );
  }
  for (const worker of workers) {
    worker.on('error', (err) =>
      log.warn({ event: 'webhook.worker_failed', err: err.message }, 'webhook worker error'),
    );
  }

  return {
    fanoutQueue,
    async close() {
      await Promise.all(workers.map((w) => w.close()));
      await Promise.all([queue.close(), fanoutQueue.close()]);
      await Promise.allSettled(connections.map((c) => c.quit()));
    },
  };
}

/**
 * How long a delivery waits for a slot of its endpoint unless a release wakes it first: 25 ms,
 * doubling per wait, at most 30 s.
 */
export function slotWaitMs(waits: number): number {
  return Math.min(30_000, 25 * 2 ** Math.max(0, Math.min(waits - 1, 11)));
}

/** The current secret, and the previous one while its grace period lasts. */
function secretsOf(endpoint: WebhookEndpoint): string[] {
  const previousValid =
    endpoint.previousSecret !== null &&
    endpoint.previousSecretExpiresAt !== null &&
    endpoint.previousSecretExpiresAt.getTime() > Date.now();
  return previousValid ? [endpoint.secret, endpoint.previousSecret!] : [endpoint.secret];
}

/** The endpoint whose URL has the same origin (scheme, host, port) as `url`. */
export function endpointOnOrigin(endpoints: WebhookEndpoint[], url: string): WebhookEndpoint | null {
  let origin: string;
  try {
    origin = new URL(url).origin;
  } catch {
    return null;
  }
  return endpoints.find((e) => new URL(e.url).origin === origin) ?? null;
}
