import { DEFAULT_MODELS } from '@turnstream/contracts';
import { describe, expect, it } from 'vitest';
import { parseEnv } from '../src/env.ts';

describe('parseEnv', () => {
  it('applies the defaults', () => {
    expect(parseEnv({})).toEqual({
      PORT: 3000,
      HOST: '127.0.0.1',
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/turnstream',
      DB_POOL_MAX: 10,
      DB_PREPARE: true,
      REDIS_URL: 'redis://127.0.0.1:6379',
      REDIS_PREFIX: 'ts',
      REDIS_SHARDED_PUBSUB: false,
      REDIS_WAIT_TIMEOUT_MS: 500,
      BULL_PREFIX: 'bull',
      TURNS_QUEUE_NAME: 'turns',
      TURNS_INTAKE_QUEUE_NAME: 'turns-intake',
      DEFAULT_MODEL: 'claude-sonnet-4-6',
      MODELS: DEFAULT_MODELS,
      SSE_HEARTBEAT_MS: 15_000,
      SSE_HIGH_WATER_MARK: 1000,
      SSE_READ_RETRY_MS: 10_000,
      TENANT_MESSAGES_PER_MINUTE: 600,
      KEY_REVOCATION_SWEEP_MS: 5_000,
      BODY_LIMIT_BYTES: 1_048_576,
      SHUTDOWN_TIMEOUT_MS: 10_000,
      RUNTIME_STATS_INTERVAL_MS: 30_000,
      LOG_LEVEL: 'info',
      MIGRATE_ON_START: true,
      PLAYGROUND: true,
      PLAYGROUND_DIR: undefined,
      PLAYGROUND_DEV_KEY: undefined,
      METRICS_HOST: '127.0.0.1',
      ADMIN_SESSION_TTL_MS: 8 * 3_600_000,
      ADMIN_COOKIE_SECURE: false,
      TROUBLE_STUCK_AFTER_MS: 300_000,
      TROUBLE_FAILURE_WINDOW_MS: 3_600_000,
      TROUBLE_FAILURE_LOOP_MIN: 3,
      OTEL_BSP_SCHEDULE_DELAY: 1000,
      RETENTION_SWEEP_MS: 3_600_000,
      DELETE_CANCEL_WAIT_MS: 10_000,
      WEBHOOK_ALLOWED_NETWORKS: [],
    });
  });

  it('reads webhook networks and refuses one that is not a CIDR', () => {
    expect(parseEnv({ WEBHOOK_ALLOWED_NETWORKS: '10.0.0.0/8, ::1/128' }).WEBHOOK_ALLOWED_NETWORKS).toEqual([
      '10.0.0.0/8',
      '::1/128',
    ]);
    expect(() => parseEnv({ WEBHOOK_ALLOWED_NETWORKS: '10.0.0.1' })).toThrow(/WEBHOOK_ALLOWED_NETWORKS/);
  });

  it('reads a model price table and refuses a malformed one', () => {
    const prices = { 'my-model': { input: 1, output: 2, cacheRead: 0.1, cacheWrite: 1.25 } };
    expect(parseEnv({ MODEL_PRICES: JSON.stringify(prices) }).MODEL_PRICES).toEqual(prices);
    expect(() => parseEnv({ MODEL_PRICES: '{not json' })).toThrow(/MODEL_PRICES/);
    expect(() => parseEnv({ MODEL_PRICES: '{"m":{"input":1}}' })).toThrow(/MODEL_PRICES/);
  });

  it('reads the catch-up read retry bound: whole milliseconds, 0 or more', () => {
    expect(parseEnv({ SSE_READ_RETRY_MS: '2500' }).SSE_READ_RETRY_MS).toBe(2500);
    expect(parseEnv({ SSE_READ_RETRY_MS: '0' }).SSE_READ_RETRY_MS).toBe(0);
    for (const bad of ['-1', '1.5', 'ten seconds']) {
      expect(() => parseEnv({ SSE_READ_RETRY_MS: bad })).toThrow(/SSE_READ_RETRY_MS/);
    }
  });

  it('coerces strings', () => {
    const env = parseEnv({
      PORT: '8080',
      MIGRATE_ON_START: 'false',
      SSE_HEARTBEAT_MS: '500',
      HOST: '0.0.0.0',
    });
    expect(env).toMatchObject({
      PORT: 8080,
      MIGRATE_ON_START: false,
      SSE_HEARTBEAT_MS: 500,
      HOST: '0.0.0.0',
    });
  });

  it('names every bad variable', () => {
    expect(() => parseEnv({ PORT: 'http', MIGRATE_ON_START: 'maybe' })).toThrow(
      /MIGRATE_ON_START[\s\S]*PORT/,
    );
  });
});
