import { hostname } from 'node:os';
import { CLAUDE_HTTP_CLIENTS, DEFAULT_CLAUDE_HTTP_CLIENT } from '@turnstream/claude';
import { envBoolean, envInt, optionalString, parseEnvWith, serviceEnvSchema } from '@turnstream/config';
import { modelListEnvSchema } from '@turnstream/contracts';
import { allowedNetworksEnv } from '@turnstream/webhooks';
import { z } from 'zod';
import { DEFAULT_PUBLISH_PACING, PACING_MODES } from './publish-pacing.ts';

/** A share of the event loop's time, 0 to 1. */
const loadShare = (fallback: number) => z.coerce.number().min(0).max(1).default(fallback);

/** The worker's environment: the shared service settings and its own. Parsed once in `main.ts`. */
export const workerEnvSchema = serviceEnvSchema.extend({
  ANTHROPIC_API_KEY: optionalString().meta({
    description:
      'Anthropic API key (required unless `CLAUDE_SIMULATOR_URL` is set; any value with the simulator). A set key always goes to `ANTHROPIC_BASE_URL`, never to `CLAUDE_SIMULATOR_URL`.',
    docDefault: 'required',
  }),
  ANTHROPIC_BASE_URL: optionalString().meta({
    description: "Base URL of the Messages API (the simulator's URL to use it with a key).",
    docDefault: "Anthropic's API",
  }),
  CLAUDE_SIMULATOR_URL: optionalString().meta({
    description:
      'The Claude simulator, used only while `ANTHROPIC_API_KEY` is unset (Compose sets it; setting a key alone then reaches Anthropic).',
    docDefault: 'unset',
  }),
  WORKER_ID: z.string().default(`${hostname()}-${process.pid}`).meta({
    description: 'Name of this worker in logs, metrics and `turn_attempts` (the pod name in the chart).',
    docDefault: '`<hostname>-<pid>`',
  }),
  STALLED_INTERVAL_MS: envInt(30_000, 100).describe(
    'BullMQ stalled-job check interval: how soon a job of a dead or frozen worker is handed to another.',
  ),
  STALL_BUDGET: envInt(10, 1).describe(
    'Stall budget of a turn job: how often it may be taken over after its worker died, froze or lost its lock (stalls never consume retry attempts). Past it the message fails readably as stall_exhausted, so a message that crashes every worker taking it cannot crash the fleet forever.',
  ),
  RETRY_BACKOFF_SCALE: z.coerce
    .number()
    .min(0)
    .default(1)
    .describe('Multiplier on every retry backoff (1 = as suggested by the error class).'),
  WORKER_CONCURRENCY: envInt(100, 1).describe(
    'Concurrent turns per process. The work is I/O bound: hundreds are fine.',
  ),
  DB_POOL_MAX: envInt(10, 1).describe(
    'Postgres pool size of this process, whatever its concurrency (a turn holds no connection; busy connections take queries pipelined).',
  ),
  ORDER_WAIT_MS: envInt(200, 1).describe(
    'First wait of a job queued behind another turn of its conversation (doubles per wait, at most 5 s); the turn that ends wakes the next job at once.',
  ),
  TENANT_MAX_RUNNING_TURNS: envInt(50, 1).describe(
    "Running turns per tenant across the fleet, unless the tenant has its own (`pnpm tenant:limits`). Beyond it the tenant's turns wait in the queue (not an attempt) and other tenants' turns still start.",
  ),
  LEASE_TTL_MS: envInt(30_000, 1000).describe(
    'Conversation lease time-to-live; renewed every third of it while the turn runs.',
  ),
  LOCK_DURATION_MS: envInt(30_000, 1000).describe('BullMQ job lock duration.'),
  MAX_TOKENS: envInt(1024, 1).describe(
    "Output budget per reply (added to the thinking budget when thinking is on), cut to the model's output limit in `MODELS`.",
  ),
  MODELS: modelListEnvSchema.meta({
    description:
      "The models and their output limits, as the API's `MODELS` (keep the two equal): a turn's `max_tokens` (`MAX_TOKENS` plus the thinking budget) never exceeds its model's limit.",
    docDefault: 'the current Claude models',
  }),
  SESSION_RECOVERY: envBoolean
    .default(true)
    .describe(
      'Clear, rebuild and retry once on a session_invalid error. Off: fail readably, the next message starts fresh.',
    ),
  REBUILD_TOKEN_BUDGET: envInt(150_000, 100).describe(
    'Token budget of a transcript rebuilt from the visible history.',
  ),
  CLAUDE_IDLE_TIMEOUT_MS: envInt(60_000, 100).describe(
    'A Claude stream silent for this long is aborted and retried (transient).',
  ),
  CLAUDE_REQUEST_TIMEOUT_MS: envInt(600_000, 1000).describe('Upper bound of one Claude request, in ms.'),
  CLAUDE_HTTP_CLIENT: z
    .enum(CLAUDE_HTTP_CLIENTS)
    .default(DEFAULT_CLAUDE_HTTP_CLIENT)
    .describe(
      "How the worker talks to the Messages API: `node` (node:http with keep-alive sockets, less CPU per streamed token) or `fetch` (the platform's fetch, undici, as the SDK uses by default).",
    ),
  CLAUDE_GATE_CHECK_HEADER: envBoolean
    .default(false)
    .describe(
      'Send `x-turnstream-gate-check: at-us=<epoch µs>` with every Claude request: when the rate-gate check that let it go ran, on the Redis clock. For the simulator (the chaos suite judges its rate-limit check by it); leave off against Anthropic.',
    ),
  LIVE_PERSIST_INTERVAL_MS: envInt(250, 10).describe(
    "How often a streaming reply's partial content is written to Postgres, in ms.",
  ),
  COALESCE_WINDOW_MS: envInt(DEFAULT_PUBLISH_PACING.coalesceWindowMs, 0).describe(
    'Text deltas are merged for this long before being published (the first delta of a reply goes at once), while the worker holds few streams (with `PUBLISH_PACING=load`, or has time to spare).',
  ),
  COALESCE_WINDOW_MAX_MS: envInt(DEFAULT_PUBLISH_PACING.coalesceWindowMaxMs, 0).describe(
    'The widest the merge window grows as the worker holds more streams (never below `COALESCE_WINDOW_MS`).',
  ),
  PUBLISH_BUDGET_PER_SECOND: envInt(DEFAULT_PUBLISH_PACING.publishBudgetPerSecond, 0).describe(
    'Publishes per second the worker aims to stay under across all its streams: the merge window widens to `running turns x 1000 / budget` ms, between `COALESCE_WINDOW_MS` and `COALESCE_WINDOW_MAX_MS` (with `PUBLISH_PACING=load`, only as far as its loop is busy). 0 keeps the window fixed.',
  ),
  PUBLISH_PACING: z
    .enum(PACING_MODES)
    .default(DEFAULT_PUBLISH_PACING.pacingMode)
    .describe(
      "`count`: the budget widens the window whatever the load; `load`: only as far as the worker's event loop is busy (see the two below), so a worker with time to spare publishes each delta within `COALESCE_WINDOW_MS`.",
    ),
  PUBLISH_PACING_LOAD_FROM: loadShare(DEFAULT_PUBLISH_PACING.pacingLoadFrom).describe(
    'Event-loop utilization (0-1, smoothed over seconds) up to which a worker keeps `COALESCE_WINDOW_MS` however many streams it holds.',
  ),
  PUBLISH_PACING_LOAD_FULL: loadShare(DEFAULT_PUBLISH_PACING.pacingLoadFull).describe(
    "Event-loop utilization from which the budget's window applies in full (in between, in proportion).",
  ),
  SHUTDOWN_GRACE_MS: envInt(20_000, 0).describe(
    'On SIGTERM, running turns get this long to finish before they are interrupted and handed back.',
  ),
  RECONCILE_INTERVAL_MS: envInt(30_000, 0).describe(
    'Pending messages older than this with no job are re-enqueued (0 disables).',
  ),
  DEFAULT_MODEL: z
    .string()
    .min(1)
    .default('claude-sonnet-4-6')
    .describe(
      "Model of a conversation an intake job creates for a new `externalConversationId` (one of the API's `MODELS`).",
    ),
  WEBHOOK_CONCURRENCY: envInt(10, 0).describe(
    'Webhook deliveries in flight at once in this process (own queue and connections); 0: sent by other processes.',
  ),
  WEBHOOK_ENDPOINT_CONCURRENCY: envInt(2, 1).describe(
    'Deliveries in flight at once per webhook endpoint, across every process (a hanging receiver holds no more).',
  ),
  WEBHOOK_TIMEOUT_MS: envInt(10_000, 100).describe(
    'Time for one webhook delivery attempt (connect to status line), in ms.',
  ),
  WEBHOOK_MAX_ATTEMPTS: envInt(8, 1).describe('Attempts per webhook delivery, the first included.'),
  WEBHOOK_BACKOFF_MS: envInt(5_000, 1).describe(
    "Delay before a webhook delivery's second attempt, doubled for each one after, in ms.",
  ),
  WEBHOOK_ALLOWED_NETWORKS: allowedNetworksEnv.meta({
    description:
      'Networks webhooks may reach although loopback, private or reserved (CIDRs, comma separated, e.g. `10.20.0.0/16`). Must match the API.',
    docDefault: 'none',
  }),
});

export type WorkerEnv = z.infer<typeof workerEnvSchema>;

export function parseEnv(source: Record<string, string | undefined>): WorkerEnv {
  return parseEnvWith(workerEnvSchema, source);
}
