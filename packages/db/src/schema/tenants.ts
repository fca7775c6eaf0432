import { sql } from 'drizzle-orm';
import { boolean, check, index, integer, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';

export const tenants = pgTable(
  'tenants',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    name: text('name').notNull(),
    /**
     * The tenant that runs the deployment: its admin and viewer keys see every tenant on the admin pages
     * and the queue dashboard. Other tenants' admin and viewer keys see only their own tenant.
     */
    operator: boolean('operator').notNull().default(false),
    /** Messages the tenant may post per minute, across API replicas; NULL: the deployment's default. */
    messagesPerMinute: integer('messages_per_minute'),
    /** Turns of the tenant running at once, across workers; NULL: the deployment's default. */
    maxRunningTurns: integer('max_running_turns'),
    /**
     * Days a conversation is kept after its last message; the retention sweeper deletes it then.
     * NULL: the deployment's default (which may be "keep forever").
     */
    retentionDays: integer('retention_days'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    check(
      'tenants_messages_per_minute_check',
      sql`${t.messagesPerMinute} is null or ${t.messagesPerMinute} > 0`,
    ),
    check('tenants_max_running_turns_check', sql`${t.maxRunningTurns} is null or ${t.maxRunningTurns} > 0`),
    check('tenants_retention_days_check', sql`${t.retentionDays} is null or ${t.retentionDays} > 0`),
  ],
);

export const API_KEY_ROLES = ['client', 'viewer', 'admin'] as const;
export type ApiKeyRole = (typeof API_KEY_ROLES)[number];

/** API keys are stored hashed (sha256); `prefix` is the visible part shown to operators. */
export const apiKeys = pgTable(
  'api_keys',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    prefix: text('prefix').notNull().unique(),
    keyHash: text('key_hash').notNull().unique(),
    role: text('role').$type<ApiKeyRole>().notNull().default('client'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    lastUsedAt: timestamp('last_used_at', { withTimezone: true }),
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
  },
  (t) => [
    index('api_keys_tenant_idx').on(t.tenantId),
    check('api_keys_role_check', sql`${t.role} in ('client', 'viewer', 'admin')`),
  ],
);
