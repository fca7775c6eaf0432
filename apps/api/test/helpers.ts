import { randomBytes } from 'node:crypto';
import { TURNS_INTAKE_QUEUE, TURNS_QUEUE } from '@turnstream/contracts';
import { type ApiKeyRole, createApiKey, createTenant, type Db } from '@turnstream/db';
import { createTestDatabase, type TestDatabase } from '@turnstream/db/testing';
import { type Logger, silentLogger } from '@turnstream/logger';
import {
  createEventSubscriber,
  createTurnStreams,
  type EventSubscriber,
  type TurnStreams,
} from '@turnstream/streams';
import { deleteKeys } from '@turnstream/testkit';
import { WEBHOOK_FANOUT_QUEUE } from '@turnstream/webhooks';
import { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { buildApp } from '../src/app.ts';
import type { AppConfig } from '../src/context.ts';
import { type ApiMetrics, createApiMetrics } from '../src/metrics.ts';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface HarnessOptions {
  config?: Partial<AppConfig>;
  /** Event subscriber high-water mark (events buffered per SSE client). */
  highWaterMark?: number;
  logger?: Logger;
}

export interface Tenant {
  tenantId: string;
  /** Keys by role. */
  keys: Record<ApiKeyRole, string>;
}

/**
 * The API built on real dependencies for one test file: its own database, its own Redis key prefix
 * and BullMQ prefix, a real queue, real streams and subscriber. `close()` releases everything.
 */
export class Harness {
  readonly redisPrefix = `tsapi${randomBytes(4).toString('hex')}`;
  readonly bullPrefix = `${this.redisPrefix}bull`;
  tdb!: TestDatabase;
  redis!: Redis;
  queue!: Queue;
  /** The intake queue (no worker consumes it here). */
  intakeQueue!: Queue;
  /** The webhook fan-out queue (no dispatcher consumes it here). */
  webhookQueue!: Queue;
  streams!: TurnStreams;
  subscriber!: EventSubscriber;
  metrics: ApiMetrics = createApiMetrics();
  app!: FastifyInstance;
  url: string | undefined;
  private readonly extraRedis: Redis[] = [];
  private readonly extraApps: FastifyInstance[] = [];
  private readonly extraQueues: Queue[] = [];

  constructor(private readonly opts: HarnessOptions = {}) {}

  async start(): Promise<this> {
    this.tdb = await createTestDatabase();
    this.redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 2 });
    this.queue = new Queue(TURNS_QUEUE, { connection: this.redis.duplicate(), prefix: this.bullPrefix });
    this.intakeQueue = new Queue(TURNS_INTAKE_QUEUE, {
      connection: this.redis.duplicate(),
      prefix: this.bullPrefix,
    });
    this.webhookQueue = new Queue(WEBHOOK_FANOUT_QUEUE, {
      connection: this.redis.duplicate(),
      prefix: this.bullPrefix,
    });
    this.streams = createTurnStreams({ redis: this.redis, keyPrefix: this.redisPrefix });
    this.subscriber = createEventSubscriber({
      redis: this.redis,
      streams: this.streams,
      ...(this.opts.highWaterMark ? { highWaterMark: this.opts.highWaterMark } : {}),
    });
    this.app = this.build({});
    await this.app.ready();
    return this;
  }

  /** Another app on the same database and Redis prefixes, with some dependencies replaced. */
  build(overrides: {
    db?: Db;
    queue?: Queue;
    redis?: Redis;
    streams?: TurnStreams;
    subscriber?: EventSubscriber;
    metrics?: ApiMetrics;
    config?: Partial<AppConfig>;
    logger?: Logger;
  }): FastifyInstance {
    const app = buildApp({
      db: overrides.db ?? this.tdb.db,
      redis: overrides.redis ?? this.redis,
      queue: overrides.queue ?? this.queue,
      intakeQueue: this.intakeQueue,
      webhookQueue: this.webhookQueue,
      streams: overrides.streams ?? this.streams,
      subscriber: overrides.subscriber ?? this.subscriber,
      logger: overrides.logger ?? this.opts.logger ?? silentLogger(),
      metrics: overrides.metrics ?? this.metrics,
      config: { redisPrefix: this.redisPrefix, ...this.opts.config, ...overrides.config },
    });
    if (this.app) this.extraApps.push(app);
    return app;
  }

  /** A Redis connection closed with the harness. */
  connection(): Redis {
    const r = new Redis(REDIS_URL, { maxRetriesPerRequest: 2 });
    this.extraRedis.push(r);
    return r;
  }

  /** A BullMQ queue on this file's prefix, closed with the harness. */
  extraQueue(): Queue {
    const q = new Queue(TURNS_QUEUE, { connection: this.connection(), prefix: this.bullPrefix });
    this.extraQueues.push(q);
    return q;
  }

  /** Listen on a random loopback port (for SSE over real HTTP). */
  async listen(): Promise<string> {
    if (!this.url) this.url = await this.app.listen({ port: 0, host: '127.0.0.1' });
    return this.url;
  }

  /** A tenant with one key per role; `operator`: the tenant that runs the deployment (sees the fleet). */
  async tenant(
    name = `tenant-${randomBytes(3).toString('hex')}`,
    opts: { operator?: boolean } = {},
  ): Promise<Tenant> {
    const t = await createTenant(this.tdb.db, { name, operator: opts.operator ?? false });
    const keys = {} as Record<ApiKeyRole, string>;
    for (const role of ['client', 'viewer', 'admin'] as const) {
      keys[role] = (await createApiKey(this.tdb.db, { tenantId: t.id, role })).key;
    }
    return { tenantId: t.id, keys };
  }

  /** A JSON request through `app.inject()`. */
  // biome-ignore lint/suspicious/noExplicitAny: tests assert on response bodies of any shape
  async request<T = any>(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH',
    url: string,
    opts: { key?: string; body?: unknown; rawBody?: string; headers?: Record<string, string> } = {},
  ): Promise<{ status: number; body: T; headers: Record<string, unknown> }> {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.key) headers.authorization = `Bearer ${opts.key}`;
    let payload: string | undefined;
    if (opts.rawBody !== undefined) payload = opts.rawBody;
    else if (opts.body !== undefined) {
      payload = JSON.stringify(opts.body);
      headers['content-type'] ??= 'application/json';
    }
    const res = await this.app.inject({
      method,
      url,
      headers,
      ...(payload !== undefined ? { payload } : {}),
    });
    return {
      status: res.statusCode,
      body: (res.body ? JSON.parse(res.body) : undefined) as T,
      headers: res.headers,
    };
  }

  /** Every job of this file's queue, in any state. */
  async allJobs() {
    return this.queue.getJobs(['waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed']);
  }

  async close(): Promise<void> {
    for (const app of this.extraApps) await app.close();
    await this.app?.close();
    await this.subscriber?.close();
    for (const q of this.extraQueues) await q.close().catch(() => undefined);
    await this.queue?.obliterate({ force: true }).catch(() => undefined);
    await this.queue?.close();
    await this.intakeQueue?.obliterate({ force: true }).catch(() => undefined);
    await this.intakeQueue?.close();
    await this.webhookQueue?.obliterate({ force: true }).catch(() => undefined);
    await this.webhookQueue?.close();
    if (this.redis) {
      await deleteKeys(this.redis, `${this.redisPrefix}*`);
      await this.redis.quit();
    }
    await Promise.all(this.extraRedis.map((r) => r.quit().catch(() => r.disconnect())));
    await this.tdb?.drop();
  }
}

/** The harness of a test file: started in beforeAll, closed in afterAll (register other hooks after it). */
export function harnessFixture(opts: HarnessOptions = {}): Harness {
  const h = new Harness(opts);
  beforeAll(async () => {
    await h.start();
  });
  afterAll(async () => {
    await h.close();
  });
  return h;
}

/** A tenant of `h` with one key per role, created in beforeAll (after the harness started). */
export function tenantFixture(h: Harness, name?: string): Tenant {
  const tenant = {} as Tenant;
  beforeAll(async () => {
    Object.assign(tenant, await h.tenant(name));
  });
  return tenant;
}
