import { and, desc, eq, inArray, type SQL, type SQLWrapper, sql } from 'drizzle-orm';
import type { Db } from '../client.ts';
import { messages, webhookAttempts, webhookDeliveries, webhookEndpoints } from '../schema/index.ts';
import { preparedSql } from './prepared.ts';

export type WebhookEndpoint = typeof webhookEndpoints.$inferSelect;
export type WebhookDelivery = typeof webhookDeliveries.$inferSelect;
export type WebhookAttempt = typeof webhookAttempts.$inferSelect;

export async function createWebhookEndpoint(
  db: Db,
  input: { tenantId: string; url: string; eventTypes: string[]; description?: string | null; secret: string },
): Promise<WebhookEndpoint> {
  const [row] = await db
    .insert(webhookEndpoints)
    .values({ ...input, description: input.description ?? null })
    .returning();
  return row!;
}

export async function listWebhookEndpoints(db: Db, tenantId: string): Promise<WebhookEndpoint[]> {
  return db
    .select()
    .from(webhookEndpoints)
    .where(eq(webhookEndpoints.tenantId, tenantId))
    .orderBy(webhookEndpoints.createdAt, webhookEndpoints.id);
}

export async function getWebhookEndpoint(
  db: Db,
  tenantId: string,
  id: string,
): Promise<WebhookEndpoint | null> {
  const [row] = await db
    .select()
    .from(webhookEndpoints)
    .where(and(eq(webhookEndpoints.id, id), eq(webhookEndpoints.tenantId, tenantId)));
  return row ?? null;
}

/** Delete an endpoint with its deliveries and their attempts. False when the tenant has no such endpoint. */
export async function deleteWebhookEndpoint(db: Db, tenantId: string, id: string): Promise<boolean> {
  const rows = await db
    .delete(webhookEndpoints)
    .where(and(eq(webhookEndpoints.id, id), eq(webhookEndpoints.tenantId, tenantId)))
    .returning({ id: webhookEndpoints.id });
  return rows.length > 0;
}

/**
 * A new signing secret; the current one keeps signing (as a second signature) for `graceSeconds`.
 * Null when the tenant has no such endpoint.
 */
export async function rotateWebhookSecret(
  db: Db,
  input: { tenantId: string; id: string; secret: string; graceSeconds: number },
): Promise<WebhookEndpoint | null> {
  const [row] = await db
    .update(webhookEndpoints)
    .set({
      previousSecret: input.graceSeconds > 0 ? sql`${webhookEndpoints.secret}` : null,
      previousSecretExpiresAt:
        input.graceSeconds > 0 ? sql`now() + make_interval(secs => ${input.graceSeconds})` : null,
      secret: input.secret,
    })
    .where(and(eq(webhookEndpoints.id, input.id), eq(webhookEndpoints.tenantId, input.tenantId)))
    .returning();
  return row ?? null;
}

/** The tenant's endpoints that take `eventType`. */
export async function endpointsForEvent(
  db: Db,
  tenantId: string,
  eventType: string,
): Promise<WebhookEndpoint[]> {
  return db
    .select()
    .from(webhookEndpoints)
    .where(
      and(eq(webhookEndpoints.tenantId, tenantId), sql`${eventType} = any(${webhookEndpoints.eventTypes})`),
    );
}

/**
 * Whether the outcome `eventType` of the user message `messageId` has a webhook target (an endpoint of
 * its tenant that takes the type, or the message's own `callbackUrl`), as a boolean SQL expression: for
 * {@link webhookOutcomeWanted}, and for a statement that ends a turn to answer with its writes.
 */
export function outcomeWantedSql(messageId: SQLWrapper, eventType: SQLWrapper): SQL {
  return sql`exists (
  select 1 from "messages" m
  where m."id" = ${messageId}::uuid and m."role" = 'user'
    and (m."callback_url" is not null or exists (
      select 1 from "webhook_endpoints" e
      where e."tenant_id" = m."tenant_id" and ${eventType}::text = any(e."event_types")
    ))
)`;
}

const OUTCOME_WANTED = sql`select ${outcomeWantedSql(sql.placeholder('messageId'), sql.placeholder('eventType'))} as "wanted"`;

/**
 * Whether an outcome (`eventType`) of the user message `messageId` has a webhook target: an endpoint
 * of its tenant that takes the event type, or the message's own `callbackUrl`. One prepared statement,
 * so that an outcome nobody takes queues no fan-out. False when the message is gone.
 */
export async function webhookOutcomeWanted(db: Db, messageId: string, eventType: string): Promise<boolean> {
  const query = preparedSql<{ wanted: boolean }>(db, 'webhook_outcome_wanted', OUTCOME_WANTED);
  const [row] = await query.execute({ messageId, eventType });
  return row?.wanted === true;
}

/** Create deliveries (one per target; repeats of the same event for the same target are ignored). */
export async function createWebhookDeliveries(
  db: Db,
  rows: Array<typeof webhookDeliveries.$inferInsert>,
): Promise<WebhookDelivery[]> {
  if (rows.length === 0) return [];
  await db.insert(webhookDeliveries).values(rows).onConflictDoNothing();
  // The rows as stored, new or from an earlier fan-out of the same event.
  const first = rows[0]!;
  return db
    .select()
    .from(webhookDeliveries)
    .where(
      and(
        eq(webhookDeliveries.messageId, first.messageId),
        eq(webhookDeliveries.eventType, first.eventType),
        inArray(
          webhookDeliveries.endpointId,
          rows.map((r) => r.endpointId),
        ),
      ),
    );
}

export async function getWebhookDelivery(db: Db, id: string): Promise<WebhookDelivery | null> {
  const [row] = await db.select().from(webhookDeliveries).where(eq(webhookDeliveries.id, id));
  return row ?? null;
}

/** An endpoint by id, for the dispatcher (no tenant scope: the delivery names it). */
export async function getWebhookEndpointById(db: Db, id: string): Promise<WebhookEndpoint | null> {
  const [row] = await db.select().from(webhookEndpoints).where(eq(webhookEndpoints.id, id));
  return row ?? null;
}

/** Record one attempt and the delivery's state after it (`final`: no attempt follows). */
export async function recordWebhookAttempt(
  db: Db,
  input: Omit<typeof webhookAttempts.$inferInsert, 'id'> & { final: boolean },
): Promise<void> {
  const { final, ...attempt } = input;
  const succeeded = attempt.outcome === 'succeeded';
  await db.transaction(async (tx) => {
    await tx.insert(webhookAttempts).values(attempt);
    await tx
      .update(webhookDeliveries)
      .set({
        attempts: sql`greatest(${webhookDeliveries.attempts}, ${attempt.attempt})`,
        ...(succeeded ? { status: 'delivered' as const, deliveredAt: new Date() } : {}),
        ...(!succeeded && final ? { status: 'failed' as const } : {}),
      })
      .where(eq(webhookDeliveries.id, attempt.deliveryId));
  });
}

export interface DeliveryWithAttempts extends WebhookDelivery {
  attemptList: WebhookAttempt[];
}

/** An endpoint's deliveries, newest first, each with its attempts (oldest first). */
export async function listWebhookDeliveries(
  db: Db,
  endpointId: string,
  opts: { limit: number },
): Promise<DeliveryWithAttempts[]> {
  const deliveries = await db
    .select()
    .from(webhookDeliveries)
    .where(eq(webhookDeliveries.endpointId, endpointId))
    .orderBy(desc(webhookDeliveries.createdAt), desc(webhookDeliveries.id))
    .limit(opts.limit);
  if (deliveries.length === 0) return [];
  const attempts = await db
    .select()
    .from(webhookAttempts)
    .where(
      inArray(
        webhookAttempts.deliveryId,
        deliveries.map((d) => d.id),
      ),
    )
    .orderBy(webhookAttempts.attempt, webhookAttempts.startedAt);
  return deliveries.map((d) => ({ ...d, attemptList: attempts.filter((a) => a.deliveryId === d.id) }));
}

/** A message by id alone, for the dispatcher (the event that names it carries no tenant). */
export async function getMessageForWebhook(db: Db, id: string) {
  const [row] = await db.select().from(messages).where(eq(messages.id, id));
  return row ?? null;
}
