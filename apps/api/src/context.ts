import type { RedisClient } from '@turnstream/config';
import { DEFAULT_MODELS, type ModelSpec } from '@turnstream/contracts';
import type { Db } from '@turnstream/db';
import type { Logger } from '@turnstream/logger';
import type { EventSubscriber, TurnStreams } from '@turnstream/streams';
import type { TargetPolicy } from '@turnstream/webhooks';
import type { Queue } from 'bullmq';
import { DEFAULT_PRICES, type PriceTable } from './admin/pricing.ts';
import { DEFAULT_TROUBLE_SETTINGS, type TroubleSettings } from './admin/trouble.ts';
import type { ApiMetrics } from './metrics.ts';
import type { PlaygroundConfig } from './playground.ts';
import type { SseRegistry } from './sse.ts';
import type { TenantLimits } from './tenant-limits.ts';

export interface AppConfig {
  /** Prefix of Turnstream's Redis keys (cancel flags and channel). Default `'ts'`. */
  redisPrefix: string;
  /** Model of a conversation created without one (one of `models`). Default `'claude-sonnet-4-6'`. */
  defaultModel: string;
  /** Models conversations may use, with their output limits. Default: the current Claude models. */
  models: readonly ModelSpec[];
  /** Interval of SSE heartbeat comments in ms. Default `15_000`. */
  sseHeartbeatMs: number;
  /** Largest accepted request body in bytes. Default `1_048_576`. */
  bodyLimitBytes: number;
  /** Serve the playground page at `/` (null: no page). Default null; `main.ts` turns it on. */
  playground: PlaygroundConfig | null;
  /** How long an operator's browser session lasts. Default 8 h. */
  adminSessionTtlMs: number;
  /** Always mark the admin cookie `Secure` (set behind a TLS-terminating proxy). Default false. */
  adminCookieSecure: boolean;
  /** Thresholds of the inspector's trouble list. */
  trouble: TroubleSettings;
  /** Model prices for usage cost (USD per million tokens). */
  prices: PriceTable;
  /**
   * How often the keys behind open event streams are re-checked (a rotated key's grace period ending;
   * revocations are also pushed at once over Redis). Default `5_000`.
   */
  keyRevocationSweepMs: number;
  /** Messages a tenant may post per minute, across replicas, unless it has its own limit. Default `600`. */
  tenantMessagesPerMinute: number;
  /**
   * `DELETE /v1/conversations/:id`: how long to wait for running turns to end after cancelling them,
   * before the conversation is removed anyway. Default `10_000`.
   */
  deleteCancelWaitMs: number;
  /** Where webhook endpoints may point (special-purpose addresses are refused unless allowed here). */
  webhookPolicy: TargetPolicy;
}

export const DEFAULT_APP_CONFIG: AppConfig = {
  redisPrefix: 'ts',
  defaultModel: 'claude-sonnet-4-6',
  models: DEFAULT_MODELS,
  sseHeartbeatMs: 15_000,
  bodyLimitBytes: 1_048_576,
  playground: null,
  adminSessionTtlMs: 8 * 3_600_000,
  adminCookieSecure: false,
  trouble: DEFAULT_TROUBLE_SETTINGS,
  prices: DEFAULT_PRICES,
  keyRevocationSweepMs: 5_000,
  tenantMessagesPerMinute: 600,
  deleteCancelWaitMs: 10_000,
  webhookPolicy: { allowedNetworks: [] },
};

/** Everything `buildApp` needs; the caller owns (and closes) every connection. */
export interface AppDeps {
  db: Db;
  /** A regular ioredis connection: readiness PING, cancel flags and the cancel channel. */
  redis: RedisClient;
  /** The BullMQ turns queue (producer side). */
  queue: Queue;
  /** The intake queue (`TURNS_INTAKE_QUEUE_NAME`): a deletion removes the conversation's messages waiting there. */
  intakeQueue: Queue;
  /** The webhook fan-out queue (`webhook-fanout`): a deletion announces `conversation.deleted` there. */
  webhookQueue: Queue;
  /** Publishes `turn.queued` / `turn.cancelled` (unfenced). */
  streams: TurnStreams;
  /** The process's shared event subscriber (one pub/sub connection) feeding every SSE response. */
  subscriber: EventSubscriber;
  /** pino logger; Fastify logs through it. */
  logger: Logger;
  config?: Partial<AppConfig>;
  /** Counters to observe from outside; a private set is used when omitted. */
  metrics?: ApiMetrics;
  /** Queues shown on the dashboard at `/admin/queues` (and in the queue-depth gauges). Default: `[queue, intakeQueue]`. */
  boardQueues?: Queue[];
}

/** What route modules receive. */
export interface RouteContext {
  db: Db;
  redis: RedisClient;
  queue: Queue;
  intakeQueue: Queue;
  webhookQueue: Queue;
  streams: TurnStreams;
  subscriber: EventSubscriber;
  logger: Logger;
  config: AppConfig;
  metrics: ApiMetrics;
  sse: SseRegistry;
  tenantLimits: TenantLimits;
}
