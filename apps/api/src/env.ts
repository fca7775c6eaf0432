import { envBoolean, envInt, optionalString, parseEnvWith, serviceEnvSchema } from '@turnstream/config';
import { modelListEnvSchema } from '@turnstream/contracts';
import { DEFAULT_READ_RETRY_MS } from '@turnstream/streams';
import { allowedNetworksEnv } from '@turnstream/webhooks';
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

/** The API's environment: the shared service settings and its own. Parsed once in `main.ts`. */
const apiEnvFields = serviceEnvSchema.extend({
  PORT: z.coerce.number().int().min(0).max(65_535).default(3000).describe('HTTP port.'),
  HOST: z
    .string()
    .min(1)
    .default('127.0.0.1')
    .describe('Interface to bind. Loopback for development; `0.0.0.0` in containers.'),
  DB_POOL_MAX: envInt(10, 1).describe('Postgres pool size of this process.'),
  DEFAULT_MODEL: z
    .string()
    .min(1)
    .default('claude-sonnet-4-6')
    .describe('Model of a conversation created without one (one of `MODELS`).'),
  MODELS: modelListEnvSchema.meta({
    description:
      'Models conversations may use, with their output limits: `id:maxOutputTokens[:budget]`, comma separated (`:budget`: the model takes a fixed thinking budget).',
    docDefault: 'the current Claude models',
  }),
  SSE_HEARTBEAT_MS: envInt(15_000, 10).describe('Interval of SSE heartbeat comments, in ms.'),
  SSE_HIGH_WATER_MARK: envInt(1000, 1).describe(
    'Events buffered per SSE client before it is disconnected with a resumable id.',
  ),
  SSE_READ_RETRY_MS: envInt(DEFAULT_READ_RETRY_MS, 0).describe(
    'How long an event stream retries a failed read of its Redis log (failures in a row, with backoff) before it ends with `stream.error` (`stream_unavailable`), in ms; 0: at the first failure.',
  ),
  TENANT_MESSAGES_PER_MINUTE: envInt(600, 1).describe(
    'Messages a tenant may post per minute, across replicas, unless it has its own (`pnpm tenant:limits`).',
  ),
  KEY_REVOCATION_SWEEP_MS: envInt(5_000, 100).describe(
    'How often the keys behind open event streams are re-checked, and how long a replica keeps a key it resolved, in ms (revocations are also pushed).',
  ),
  BODY_LIMIT_BYTES: envInt(1_048_576, 1024).describe('Largest accepted request body, in bytes.'),
  SHUTDOWN_TIMEOUT_MS: envInt(10_000, 0).describe(
    'On SIGTERM, connections still open after this long are closed forcibly.',
  ),
  PLAYGROUND: envBoolean.default(true).describe('Serve the playground page at `/`.'),
  PLAYGROUND_DIR: optionalString().describe(
    'Directory of the built playground page; unset: the one built into this package (`web/dist`).',
  ),
  PLAYGROUND_DEV_KEY: optionalString().describe(
    'Development only (`npm start` sets it): an API key the playground offers prefilled, to loopback clients only. Never set it in production.',
  ),
  ADMIN_SESSION_TTL_MS: envInt(8 * 3_600_000, 60_000).describe(
    "How long an operator's browser session (`/admin/login`) lasts, in ms.",
  ),
  ADMIN_COOKIE_SECURE: envBoolean
    .default(false)
    .describe('Always mark the admin session cookie Secure (behind a TLS-terminating proxy).'),
  TROUBLE_STUCK_AFTER_MS: envInt(5 * 60_000, 1000).describe(
    'Trouble list: a pending message older than this with no live job is stuck.',
  ),
  TROUBLE_FAILURE_WINDOW_MS: envInt(60 * 60_000, 1000).describe(
    'Trouble list: window in which failed attempts count towards a failure loop.',
  ),
  TROUBLE_FAILURE_LOOP_MIN: envInt(3, 1).describe(
    'Trouble list: failed attempts within the window that make a failure loop.',
  ),
  RETENTION_DAYS: z.coerce
    .number()
    .int()
    .min(1)
    .optional()
    .describe(
      'Days a conversation is kept after its last message, for tenants without their own (`pnpm tenant:limits --retention-days`). Unset: kept forever.',
    ),
  RETENTION_SWEEP_MS: envInt(3_600_000, 0).describe(
    'Interval of the retention sweep (a BullMQ job scheduler), in ms; 0 = no sweeper in this process.',
  ),
  DELETE_CANCEL_WAIT_MS: envInt(10_000, 0).describe(
    '`DELETE /v1/conversations/:id`: how long to wait for running turns to end once cancelled, in ms.',
  ),
  WEBHOOK_ALLOWED_NETWORKS: allowedNetworksEnv.meta({
    description:
      'Networks webhook endpoints may point at although loopback, private or reserved (CIDRs, comma separated, e.g. `10.20.0.0/16`). Must match the workers.',
    docDefault: 'none',
  }),
  MODEL_PRICES: modelPrices
    .optional()
    .describe(
      'Model prices for /admin/usage, merged over the built-in table: JSON `{ "<model>": { input, output, cacheRead, cacheWrite } }`, USD per million tokens.',
    ),
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
