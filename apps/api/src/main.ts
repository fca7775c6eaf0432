import { hostname } from 'node:os';
import {
  createRedis,
  duplicateRedis,
  fleetSettingsOf,
  joinFleetOrExit,
  readEnvOrExit,
  redisLayoutOf,
} from '@turnstream/config';
import { createDb, databaseIdentity, runMigrations } from '@turnstream/db';
import { createLogger, startRuntimeStats } from '@turnstream/logger';
import {
  createEventSubscriber,
  createTurnStreams,
  replicationOptions,
  SubscriberConnectionEndedError,
} from '@turnstream/streams';
import { startMetricsServer, startTracing } from '@turnstream/telemetry';
import { WEBHOOK_FANOUT_QUEUE, withWebhookNotices } from '@turnstream/webhooks';
import { Queue } from 'bullmq';
import { DEFAULT_PRICES } from './admin/pricing.ts';
import { buildApp } from './app.ts';
import { parseEnv } from './env.ts';
import { createApiMetrics } from './metrics.ts';
import { startRetentionSweeper } from './retention.ts';
import { notLiveReason, redisReady } from './routes/health.ts';

const env = readEnvOrExit('api', parseEnv);
// Off unless OTEL_EXPORTER_OTLP_ENDPOINT is set; started before any connection so BullMQ sees it.
const tracing = startTracing({
  serviceName: 'turnstream-api',
  endpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT,
  exportDelayMs: env.OTEL_BSP_SCHEDULE_DELAY,
});
const logger = createLogger({ name: 'api', level: env.LOG_LEVEL });

async function main(): Promise<void> {
  if (env.MIGRATE_ON_START) await runMigrations(env.DATABASE_URL);
  const dbh = createDb({
    url: env.DATABASE_URL,
    max: env.DB_POOL_MAX,
    prepare: env.DB_PREPARE,
    applicationName: 'turnstream-api',
  });
  // Fail commands fast while Redis is away (readiness then reports it) instead of queueing them for long.
  // One server (REDIS_URL) or a Redis Cluster (REDIS_CLUSTER_NODES): hash-tagged BullMQ prefix and
  // sharded pub/sub on a cluster.
  const layout = redisLayoutOf(env);
  const redis = createRedis(layout.target, { maxRetriesPerRequest: 2, connectionName: 'turnstream-api' });
  redis.on('error', (err) =>
    logger.warn({ event: 'redis.connection_failed', err: err.message }, 'redis error'),
  );
  // Refuses to run (exit 3) when the fleet settings disagree with the running fleet's.
  const fleet = await joinFleetOrExit('api', {
    redis,
    identity: () => databaseIdentity(dbh.db),
    settings: fleetSettingsOf(env),
    member: `api:${hostname()}:${process.pid}`,
    logger,
  });
  const queueConnection = duplicateRedis(redis);
  queueConnection.on('error', () => {}); // reported by the main connection
  const queue = new Queue(env.TURNS_QUEUE_NAME, {
    connection: queueConnection,
    prefix: layout.bullPrefix,
    ...(tracing ? { telemetry: tracing.bullmq } : {}),
  });
  queue.on('error', (err) =>
    logger.warn({ event: 'queue.connection_failed', err: err.message }, 'queue error'),
  );
  // Deletions remove messages still waiting here; the dashboard and the depth gauges show it.
  const intakeQueue = new Queue(env.TURNS_INTAKE_QUEUE_NAME, {
    connection: queueConnection,
    prefix: layout.bullPrefix,
  });
  intakeQueue.on('error', () => {}); // reported by the turns queue's listener (same connection)
  // Turn outcomes published here (cancels of queued turns) queue their webhooks too.
  const webhookConnection = duplicateRedis(redis);
  webhookConnection.on('error', () => {}); // reported by the main connection
  const webhookQueue = new Queue(WEBHOOK_FANOUT_QUEUE, {
    connection: webhookConnection,
    prefix: layout.bullPrefix,
  });
  webhookQueue.on('error', () => {});
  const streams = withWebhookNotices(
    createTurnStreams({
      redis,
      keyPrefix: env.REDIS_PREFIX,
      sharded: layout.shardedPubSub,
      ...replicationOptions(env, logger),
    }),
    webhookQueue,
    logger,
  );
  const subscriber = createEventSubscriber({
    redis,
    streams,
    highWaterMark: env.SSE_HIGH_WATER_MARK,
    readRetryMs: env.SSE_READ_RETRY_MS,
    onError: (err) => {
      if (err instanceof SubscriberConnectionEndedError) {
        logger.error(
          { event: 'sse.subscriber_ended', err: err.message },
          'event subscriber gave up on Redis',
        );
      } else {
        logger.warn({ event: 'sse.subscriber_failed', err: err.message }, 'event subscriber error');
      }
    },
    // The first failure of a series at warn; the retries that follow at debug (one line per stream).
    onReadRetry: ({ conversationId, attempt, error }) =>
      logger[attempt === 1 ? 'warn' : 'debug'](
        { event: 'sse.log_read_retried', conversationId, attempt, err: error.message },
        'event log read failed; retrying',
      ),
  });
  const metrics = createApiMetrics();
  const app = buildApp({
    db: dbh.db,
    redis,
    queue,
    intakeQueue,
    webhookQueue,
    streams,
    subscriber,
    logger,
    metrics,
    config: {
      redisPrefix: env.REDIS_PREFIX,
      defaultModel: env.DEFAULT_MODEL,
      models: env.MODELS,
      sseHeartbeatMs: env.SSE_HEARTBEAT_MS,
      bodyLimitBytes: env.BODY_LIMIT_BYTES,
      playground: env.PLAYGROUND ? { dir: env.PLAYGROUND_DIR, devKey: env.PLAYGROUND_DEV_KEY ?? null } : null,
      adminSessionTtlMs: env.ADMIN_SESSION_TTL_MS,
      adminCookieSecure: env.ADMIN_COOKIE_SECURE,
      trouble: {
        stuckAfterMs: env.TROUBLE_STUCK_AFTER_MS,
        failureWindowMs: env.TROUBLE_FAILURE_WINDOW_MS,
        failureLoopMin: env.TROUBLE_FAILURE_LOOP_MIN,
      },
      prices: { ...DEFAULT_PRICES, ...env.MODEL_PRICES },
      tenantMessagesPerMinute: env.TENANT_MESSAGES_PER_MINUTE,
      keyRevocationSweepMs: env.KEY_REVOCATION_SWEEP_MS,
      deleteCancelWaitMs: env.DELETE_CANCEL_WAIT_MS,
      webhookPolicy: { allowedNetworks: env.WEBHOOK_ALLOWED_NETWORKS },
    },
  });
  const sweeper =
    env.RETENTION_SWEEP_MS > 0
      ? await startRetentionSweeper({
          deps: {
            db: dbh.db,
            redis,
            queue,
            intakeQueue,
            webhookQueue,
            redisPrefix: env.REDIS_PREFIX,
            logger,
          },
          connection: redis,
          bullPrefix: layout.bullPrefix,
          everyMs: env.RETENTION_SWEEP_MS,
          defaultDays: env.RETENTION_DAYS ?? null,
        })
      : null;

  const stopStats =
    env.RUNTIME_STATS_INTERVAL_MS > 0
      ? startRuntimeStats({
          logger,
          intervalMs: env.RUNTIME_STATS_INTERVAL_MS,
          extra: () => ({ sseClientsOpen: metrics.sseClientsOpen }),
        })
      : () => {};

  let stopping = false;
  const probes =
    env.METRICS_PORT === undefined
      ? null
      : await startMetricsServer({
          registry: metrics.registry,
          port: env.METRICS_PORT,
          host: env.METRICS_HOST,
          checks: {
            postgres: () => dbh.db.execute('select 1'),
            redis: () => redisReady({ redis, subscriber }),
            queue: () => queue.waitUntilReady(),
          },
          stopping: () => stopping,
          liveness: () => notLiveReason({ subscriber }),
        });

  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ event: 'api.stop_started', signal }, 'shutting down');
    stopStats();
    // Connections still open after the timeout (a client not reading its stream) are dropped.
    const force = setTimeout(() => app.server.closeAllConnections(), env.SHUTDOWN_TIMEOUT_MS);
    force.unref();
    try {
      // Stops accepting, ends every SSE stream with a final comment, waits for in-flight requests.
      await app.close();
      await probes?.close();
      await sweeper?.close();
      await subscriber.close();
      await queue.close();
      await intakeQueue.close();
      await webhookQueue.close();
      await fleet.leave().catch(() => undefined);
      await Promise.allSettled([queueConnection.quit(), webhookConnection.quit(), redis.quit()]);
      await dbh.close();
      await tracing?.shutdown();
      logger.info({ event: 'api.stop_completed' }, 'stopped');
      process.exit(0);
    } catch (err) {
      logger.error({ event: 'api.stop_failed', err: String(err) }, 'unclean shutdown');
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  await app.listen({ port: env.PORT, host: env.HOST });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : env.PORT;
  const url = `http://${env.HOST.includes(':') ? `[${env.HOST}]` : env.HOST}:${port}`;
  logger.info(
    {
      event: 'api.start_completed',
      url,
      queue: env.TURNS_QUEUE_NAME,
      metricsPort: probes?.port ?? null,
      redisCluster: layout.cluster,
    },
    `API listening on ${url}`,
  );
}

main().catch((err: unknown) => {
  logger.fatal({ event: 'api.start_failed', err: String(err) }, 'API failed to start');
  process.exit(1);
});
