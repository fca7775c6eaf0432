import {
  DEFAULT_DATABASE_URL,
  DEFAULT_REDIS_URL,
  envBoolean,
  optionalString,
  parseEnvWith,
} from '@turnstream/config';
import { DEFAULT_MODELS, type ModelSpec, parseModelList } from '@turnstream/contracts';
import { z } from 'zod';
import { priceTableSchema } from './admin/pricing.ts';

/** `MODEL_PRICES`: JSON `{ "<model>": { input, output, cacheRead, cacheWrite } }`, USD per million tokens. */
const modelPrices = z
  .string()
  .transform((text, c) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      c.addIssue({ code: 'custom', message: 'must be JSON' });
      return z.NEVER;
    }
  })
  .pipe(priceTableSchema);

const int = (def: number, min = 0) => z.coerce.number().int().min(min).default(def);

/** `MODELS`: `id:maxOutputTokens[:budget],...`; unset or empty: the current Claude models. */
const modelList = z
  .string()
  .optional()
  .transform((value, ctx): readonly ModelSpec[] => {
    if (value === undefined || value.trim() === '') return DEFAULT_MODELS;
    try {
      return parseModelList(value);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : String(err) });
      return z.NEVER;
    }
  });

/** The API's environment. Parsed once in `main.ts`; tests pass plain objects to {@link parseEnv}. */
const apiEnvFields = z.object({
  /** TCP port. */
  PORT: z.coerce.number().int().min(0).max(65_535).default(3000),
  /** Interface to bind. Loopback for development; `0.0.0.0` in containers. */
  HOST: z.string().min(1).default('127.0.0.1'),
  DATABASE_URL: z.string().min(1).default(DEFAULT_DATABASE_URL),
  /** Postgres pool size of this process. */
  DB_POOL_MAX: int(10, 1),
  REDIS_URL: z.string().min(1).default(DEFAULT_REDIS_URL),
  /** Prefix of Turnstream's own Redis keys: event streams and cancel flags (must match the workers'). */
  REDIS_PREFIX: z.string().min(1).default('ts'),
  /** Use sharded pub/sub (SPUBLISH, Redis 7+) for live events. Must match the workers'. */
  REDIS_SHARDED_PUBSUB: envBoolean.default(false),
  /** BullMQ key prefix (must match the workers' and any TurnsClient's). */
  BULL_PREFIX: z.string().min(1).default('bull'),
  /** Name of the turns queue (must match the workers'). */
  TURNS_QUEUE_NAME: z.string().min(1).default('turns'),
  /** Model of a conversation created without one (one of `MODELS`). */
  DEFAULT_MODEL: z.string().min(1).default('claude-sonnet-4-6'),
  /**
   * Models conversations may use, with their output limits: `id:maxOutputTokens[:budget]`, comma
   * separated (`:budget`: the model takes a fixed thinking budget). Default: the current Claude models.
   */
  MODELS: modelList,
  /** Interval of SSE heartbeat comments, in ms. */
  SSE_HEARTBEAT_MS: int(15_000, 10),
  /** Events buffered per SSE client before it is disconnected with a resumable id. */
  SSE_HIGH_WATER_MARK: int(1000, 1),
  /** Messages a tenant may post per minute, across replicas, unless it has its own (`pnpm tenant:limits`). */
  TENANT_MESSAGES_PER_MINUTE: int(600, 1),
  /** How often the keys behind open event streams are re-checked, in ms (revocations are also pushed). */
  KEY_REVOCATION_SWEEP_MS: int(5_000, 100),
  /** Largest accepted request body, in bytes. */
  BODY_LIMIT_BYTES: int(1_048_576, 1024),
  /** On SIGTERM, connections still open after this long are closed forcibly. */
  SHUTDOWN_TIMEOUT_MS: int(10_000, 0),
  /** Window of the `runtime.stats_sampled` log line (event-loop delay, memory, open SSE streams); 0 = off. */
  RUNTIME_STATS_INTERVAL_MS: int(30_000, 0),
  LOG_LEVEL: z.string().min(1).default('info'),
  /** Apply pending database migrations before listening. */
  MIGRATE_ON_START: envBoolean.default(true),
  /** Serve the playground page at `/`. */
  PLAYGROUND: envBoolean.default(true),
  /** Directory of the built playground page; unset: the one built into this package (`web/dist`). */
  PLAYGROUND_DIR: optionalString(),
  /**
   * Development only (`npm start` sets it): an API key the playground offers prefilled, to loopback
   * clients only. Never set it in production.
   */
  PLAYGROUND_DEV_KEY: optionalString(),
  /** A second listener for probes and scraping (`/healthz`, `/readyz`, `/metrics`, no auth). Unset: none; 0: any free port. */
  METRICS_PORT: z.coerce.number().int().min(0).max(65_535).optional(),
  /** Interface of the `METRICS_PORT` listener. */
  METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  /** How long an operator's browser session (`/admin/login`) lasts. */
  ADMIN_SESSION_TTL_MS: int(8 * 3_600_000, 60_000),
  /** Always mark the admin session cookie Secure (behind a TLS-terminating proxy). */
  ADMIN_COOKIE_SECURE: envBoolean.default(false),
  /** Trouble list: a pending message older than this with no live job is stuck. */
  TROUBLE_STUCK_AFTER_MS: int(5 * 60_000, 1000),
  /** Trouble list: window in which failed attempts count towards a failure loop. */
  TROUBLE_FAILURE_WINDOW_MS: int(60 * 60_000, 1000),
  /** Trouble list: failed attempts within the window that make a failure loop. */
  TROUBLE_FAILURE_LOOP_MIN: int(3, 1),
  /** OTLP/HTTP endpoint for traces (spans go to `<endpoint>/v1/traces`). Unset: tracing off. */
  OTEL_EXPORTER_OTLP_ENDPOINT: optionalString(),
  /** Delay between span batch exports, in ms. */
  OTEL_BSP_SCHEDULE_DELAY: int(1000, 1),
  /**
   * Days a conversation is kept after its last message, for tenants without their own
   * (`pnpm tenant:limits --retention-days`). Unset: kept forever.
   */
  RETENTION_DAYS: z.coerce.number().int().min(1).optional(),
  /** Interval of the retention sweep (a BullMQ job scheduler), in ms; 0 = no sweeper in this process. */
  RETENTION_SWEEP_MS: int(3_600_000, 0),
  /** `DELETE /v1/conversations/:id`: how long to wait for running turns to end once cancelled, in ms. */
  DELETE_CANCEL_WAIT_MS: int(10_000, 0),
  /** Model prices for /admin/usage, merged over the built-in table. */
  MODEL_PRICES: modelPrices.optional(),
});

export const apiEnvSchema = apiEnvFields.superRefine((env, ctx) => {
  if (!env.MODELS.some((m) => m.id === env.DEFAULT_MODEL)) {
    ctx.addIssue({
      code: 'custom',
      path: ['DEFAULT_MODEL'],
      message: `"${env.DEFAULT_MODEL}" is not one of MODELS`,
    });
  }
});

export type ApiEnv = z.infer<typeof apiEnvSchema>;

/** Parse and validate the API's environment; throws one `EnvError` naming every bad variable. */
export function parseEnv(source: Record<string, string | undefined>): ApiEnv {
  return parseEnvWith(apiEnvSchema, source);
}
