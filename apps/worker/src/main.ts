import { createClaudeProvider } from '@turnstream/claude';
import {
  createRedis,
  fleetSettingsOf,
  joinFleetOrExit,
  readEnvOrExit,
  redisLayoutOf,
} from '@turnstream/config';
import { createDb, databaseIdentity, runMigrations } from '@turnstream/db';
import { createLogger, startRuntimeStats } from '@turnstream/logger';
import { createTurnStreams, replicationOptions } from '@turnstream/streams';
import { startTracing } from '@turnstream/telemetry';
import { createWebhookDispatcher, KnownOutcomeTargets, withWebhookNotices } from '@turnstream/webhooks';
import { claudeTarget } from './claude-target.ts';
import { parseEnv } from './env.ts';
import { claudeKeyId } from './rate-gate.ts';
import { createWorker } from './worker.ts';

const env = readEnvOrExit('worker', parseEnv);
// Off unless OTEL_EXPORTER_OTLP_ENDPOINT is set; started before any connection so BullMQ sees it.
const tracing = startTracing({
  serviceName: 'turnstream-worker',
  endpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT,
  exportDelayMs: env.OTEL_BSP_SCHEDULE_DELAY,
});
const logger = createLogger({ name: 'worker', level: env.LOG_LEVEL, base: { workerId: env.WORKER_ID } });

async function main(): Promise<void> {
  const claude = claudeTarget(env);
  if (!claude)
    throw new Error('ANTHROPIC_API_KEY is required (or CLAUDE_SIMULATOR_URL to use the simulator)');
  logger.info(
    { event: 'worker.claude_selected', simulator: claude.simulator, baseURL: claude.baseURL ?? 'anthropic' },
    'Claude endpoint',
  );
  if (env.MIGRATE_ON_START) await runMigrations(env.DATABASE_URL);
  const dbh = createDb({
    url: env.DATABASE_URL,
    max: env.DB_POOL_MAX,
    prepare: env.DB_PREPARE,
    applicationName: 'turnstream-worker',
  });
  // One server (REDIS_URL) or a Redis Cluster (REDIS_CLUSTER_NODES): hash-tagged BullMQ prefix and
  // sharded pub/sub on a cluster.
  const layout = redisLayoutOf(env);
  const redis = createRedis(layout.target, {
    maxRetriesPerRequest: null,
    connectionName: 'turnstream-worker',
  });
  // Refuses to run (exit 3) when the fleet settings disagree with the running fleet's.
  const fleet = await joinFleetOrExit('worker', {
    redis,
    identity: () => databaseIdentity(dbh.db),
    settings: fleetSettingsOf(env),
    member: `worker:${env.WORKER_ID}:${process.pid}`,
    logger,
  });
  // Webhooks: a queue of their own, consumed here on separate connections (WEBHOOK_CONCURRENCY = 0:
  // by other processes); every turn outcome this worker publishes that has a target queues a fan-out,
  // never awaited.
  const webhooks = createWebhookDispatcher({
    db: dbh.db,
    connection: redis,
    bullPrefix: layout.bullPrefix,
    logger,
    policy: { allowedNetworks: env.WEBHOOK_ALLOWED_NETWORKS },
    concurrency: env.WEBHOOK_CONCURRENCY,
    endpointConcurrency: env.WEBHOOK_ENDPOINT_CONCURRENCY,
    timeoutMs: env.WEBHOOK_TIMEOUT_MS,
    retry: { attempts: env.WEBHOOK_MAX_ATTEMPTS, backoffMs: env.WEBHOOK_BACKOFF_MS },
  });
  // A completion reads whether its outcome has a target with its own statement and tells the notices.
  const outcomeTargets = new KnownOutcomeTargets();
  const streams = withWebhookNotices(
    createTurnStreams({
      redis,
      keyPrefix: env.REDIS_PREFIX,
      sharded: layout.shardedPubSub,
      ...replicationOptions(env, logger),
    }),
    webhooks.fanoutQueue,
    logger,
    // An outcome nobody takes (no endpoint, no callbackUrl) queues no fan-out job.
    { db: dbh.db, known: outcomeTargets },
  );
  const provider = createClaudeProvider({
    apiKey: claude.apiKey,
    baseURL: claude.baseURL,
    idleTimeoutMs: env.CLAUDE_IDLE_TIMEOUT_MS,
    requestTimeoutMs: env.CLAUDE_REQUEST_TIMEOUT_MS,
    httpClient: env.CLAUDE_HTTP_CLIENT,
    logger,
  });
  const tw = await createWorker({
    db: dbh.db,
    redis,
    streams,
    outcomeTargets,
    provider,
    claudeKeyId: claudeKeyId(claude.apiKey, claude.baseURL),
    gateCheckHeader: env.CLAUDE_GATE_CHECK_HEADER,
    logger,
    workerId: env.WORKER_ID,
    bullPrefix: layout.bullPrefix,
    queueName: env.TURNS_QUEUE_NAME,
    intakeQueueName: env.TURNS_INTAKE_QUEUE_NAME,
    defaultModel: env.DEFAULT_MODEL,
    concurrency: env.WORKER_CONCURRENCY,
    lockDurationMs: env.LOCK_DURATION_MS,
    leaseTtlMs: env.LEASE_TTL_MS,
    tenantMaxRunningTurns: env.TENANT_MAX_RUNNING_TURNS,
    reconcileIntervalMs: env.RECONCILE_INTERVAL_MS,
    stalledIntervalMs: env.STALLED_INTERVAL_MS,
    stallBudget: env.STALL_BUDGET,
    backoffScale: env.RETRY_BACKOFF_SCALE,
    metricsPort: env.METRICS_PORT,
    metricsHost: env.METRICS_HOST,
    ...(tracing ? { telemetry: tracing.bullmq } : {}),
    config: {
      redisPrefix: env.REDIS_PREFIX,
      maxTokens: env.MAX_TOKENS,
      models: env.MODELS,
      sessionRecovery: env.SESSION_RECOVERY,
      rebuildTokenBudget: env.REBUILD_TOKEN_BUDGET,
      coalesceWindowMs: env.COALESCE_WINDOW_MS,
      coalesceWindowMaxMs: env.COALESCE_WINDOW_MAX_MS,
      publishBudgetPerSecond: env.PUBLISH_BUDGET_PER_SECOND,
      pacingMode: env.PUBLISH_PACING,
      pacingLoadFrom: env.PUBLISH_PACING_LOAD_FROM,
      pacingLoadFull: env.PUBLISH_PACING_LOAD_FULL,
      livePersistIntervalMs: env.LIVE_PERSIST_INTERVAL_MS,
      waitDelayMs: env.ORDER_WAIT_MS,
    },
  });

  const stopStats =
    env.RUNTIME_STATS_INTERVAL_MS > 0
      ? startRuntimeStats({
          logger,
          intervalMs: env.RUNTIME_STATS_INTERVAL_MS,
          extra: () => ({
            runningTurns: tw.running.size,
            loopLoad: Math.round(tw.loopLoad() * 1000) / 1000,
            coalesceWindowMs: tw.publishWindowMs(),
          }),
        })
      : () => {};

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ event: 'worker.stop_started', signal, running: tw.running.size }, 'shutting down');
    stopStats();
    await tw.close({ graceMs: env.SHUTDOWN_GRACE_MS });
    // The last turns' notices are queued before the queues close.
    await streams.noticesSettled();
    await webhooks.close();
    await fleet.leave().catch(() => undefined);
    await redis.quit().catch(() => undefined);
    await dbh.close();
    await tracing?.shutdown();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((err: unknown) => {
  logger.fatal({ event: 'worker.start_failed', err: String(err) }, 'worker failed to start');
  process.exit(1);
});
