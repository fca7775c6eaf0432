import { hostname } from 'node:os';
import {
  DEFAULT_DATABASE_URL,
  DEFAULT_REDIS_URL,
  envBoolean,
  optionalString,
  parseEnvWith,
} from '@turnstream/config';
import { z } from 'zod';

const int = (def: number, min = 0) => z.coerce.number().int().min(min).default(def);

export const workerEnvSchema = z.object({
  DATABASE_URL: z.string().default(DEFAULT_DATABASE_URL),
  REDIS_URL: z.string().default(DEFAULT_REDIS_URL),
  /** Prefix of Turnstream's own Redis keys (streams, leases, cancel flags). */
  REDIS_PREFIX: z.string().default('ts'),
  /** Publish live events with SPUBLISH (Redis 7 sharded pub/sub); must match the API's setting. */
  REDIS_SHARDED_PUBSUB: envBoolean.default(false),
  /** BullMQ key prefix (must match the API's and any TurnsClient's). */
  BULL_PREFIX: z.string().default('bull'),
  TURNS_QUEUE_NAME: z.string().default('turns'),
  ANTHROPIC_API_KEY: optionalString(),
  ANTHROPIC_BASE_URL: optionalString(),
  WORKER_ID: z.string().default(`${hostname()}-${process.pid}`),
  /** BullMQ stalled-job check interval: how soon a job of a dead or frozen worker is handed to another. */
  STALLED_INTERVAL_MS: int(30_000, 100),
  /** Multiplier on every retry backoff (1 = as suggested by the error class). */
  RETRY_BACKOFF_SCALE: z.coerce.number().min(0).default(1),
  /** Concurrent turns per process. The work is I/O bound: hundreds are fine. */
  WORKER_CONCURRENCY: int(100, 1),
  /**
   * First wait of a job queued behind another turn of its conversation (doubles per wait, at most 5 s);
   * the turn that ends wakes the next job at once.
   */
  ORDER_WAIT_MS: int(200, 1),
  /** Conversation lease time-to-live; renewed every third of it while the turn runs. */
  LEASE_TTL_MS: int(30_000, 1000),
  /** BullMQ job lock duration. */
  LOCK_DURATION_MS: int(30_000, 1000),
  /** Output budget per reply (added to the thinking budget when thinking is on). */
  MAX_TOKENS: int(1024, 1),
  /** Clear, rebuild and retry once on a session_invalid error. Off = fail readably, next message starts fresh. */
  SESSION_RECOVERY: envBoolean.default(true),
  /** Token budget of a transcript rebuilt from the visible history. */
  REBUILD_TOKEN_BUDGET: int(150_000, 100),
  CLAUDE_IDLE_TIMEOUT_MS: int(60_000, 100),
  CLAUDE_REQUEST_TIMEOUT_MS: int(600_000, 1000),
  /** How often a streaming reply's partial content is written to Postgres. */
  LIVE_PERSIST_INTERVAL_MS: int(250, 10),
  /** Text deltas are merged for this long before being published. */
  COALESCE_WINDOW_MS: int(30, 0),
  /** On SIGTERM, running turns get this long to finish before they are interrupted and handed back. */
  SHUTDOWN_GRACE_MS: int(20_000, 0),
  /** Pending messages older than this with no job are re-enqueued (0 disables). */
  RECONCILE_INTERVAL_MS: int(30_000, 0),
  /** Window of the `runtime.stats_sampled` log line (event-loop delay, memory, running turns); 0 = off. */
  RUNTIME_STATS_INTERVAL_MS: int(30_000, 0),
  LOG_LEVEL: z.string().default('info'),
  /** Probe and scrape listener (`/healthz`, `/readyz`, `/metrics`). Unset: none; 0: any free port. */
  METRICS_PORT: z.coerce.number().int().min(0).max(65_535).optional(),
  /** Interface of the metrics listener (`0.0.0.0` in containers). */
  METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  /** OTLP/HTTP endpoint for traces (spans go to `<endpoint>/v1/traces`). Unset: tracing off. */
  OTEL_EXPORTER_OTLP_ENDPOINT: optionalString(),
  /** Delay between span batch exports, in ms. */
  OTEL_BSP_SCHEDULE_DELAY: int(1000, 1),
});

export type WorkerEnv = z.infer<typeof workerEnvSchema>;

export function parseEnv(source: Record<string, string | undefined>): WorkerEnv {
  return parseEnvWith(workerEnvSchema, source);
}
