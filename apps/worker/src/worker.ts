import type { ClaudeProvider } from '@turnstream/claude';
import { duplicateRedis, FLEET_DEFAULTS, type RedisClient } from '@turnstream/config';
import { DEFAULT_MODELS, TURN_BACKOFF, TURN_JOB_NAME, TURNS_QUEUE } from '@turnstream/contracts';
import type { Db } from '@turnstream/db';
import type { Logger } from '@turnstream/logger';
import type { TurnStreams } from '@turnstream/streams';
import { inSpan, type MetricsServer, registerQueueDepth, startMetricsServer } from '@turnstream/telemetry';
import type { KnownOutcomeTargets } from '@turnstream/webhooks';
import { DelayedError, Queue, RateLimitError, type Telemetry, WaitingError, Worker } from 'bullmq';
import { abandonFailedJob } from './abandon.ts';
import { CancelListener, notLiveReason } from './cancel-listener.ts';
import { TransientTurnError } from './errors.ts';
import { gateProvider } from './gate-provider.ts';
import {
  instrumentProvider,
  instrumentStreams,
  observeRun,
  type RunState,
  runEndedQuietly,
} from './instrument.ts';
import { createIntakeWorker } from './intake.ts';
import { ConversationLeases } from './lease.ts';
import { LiveReplyWriter } from './live-replies.ts';
import { LoopLoad } from './loop-load.ts';
import { DEFAULT_PUBLISH_PACING, pacedWindowMs } from './publish-pacing.ts';
import { ClaudeRateGate } from './rate-gate.ts';
import { Reconciler } from './reconciler.ts';
import { RunningTurnLimits } from './tenant-gate.ts';
import { TenantSlots } from './tenant-slots.ts';
import { processTurnJob } from './turn.ts';
import { RunningTurns, type TurnConfig, type TurnDeps } from './turn-context.ts';
import { TurnMetrics } from './turn-metrics.ts';

export interface CreateWorkerDeps {
  db: Db;
  /** Commands connection (leases, cancel flags, the rate gate). BullMQ and the cancel listener duplicate it. */
  redis: RedisClient;
  /** What the cancel listener's subscriber connection duplicates instead of `redis` (tests). */
  cancelRedis?: RedisClient;
  streams: TurnStreams;
  /**
   * Where a completion tells the webhook notices of `streams` whether its `turn.completed` has a target
   * (read by the completion statement): the same object given to `withWebhookNotices` as `known`.
   */
  outcomeTargets?: KnownOutcomeTargets;
  provider: ClaudeProvider;
  /**
   * Identifies the Claude API key the provider uses (`claudeKeyId(apiKey, baseURL)`): workers with the
   * same id and Redis prefix share one rate gate. Default `default`.
   */
  claudeKeyId?: string;
  /**
   * Every Claude request carries the rate-gate check that let it go (`x-turnstream-gate-check`), for
   * the simulator's request log (`CLAUDE_GATE_CHECK_HEADER`). Default false.
   */
  gateCheckHeader?: boolean;
  logger: Logger;
  workerId: string;
  /** BullMQ key prefix. Default `bull`. */
  bullPrefix?: string;
  /** Queue name. Default `turns`. */
  queueName?: string;
  /** Intake queue name (messages handed in by `TurnsClient`). Default `turns-intake`. */
  intakeQueueName?: string;
  /** Concurrent intake jobs in this process. Default 20. */
  intakeConcurrency?: number;
  /** Model of a conversation created for a new `externalConversationId`. Default `claude-sonnet-4-6`. */
  defaultModel?: string;
  /** Concurrent turns in this process. Default 100. */
  concurrency?: number;
  /** BullMQ lock duration in ms. Default 30_000. */
  lockDurationMs?: number;
  /** Lease TTL in ms. Default 30_000. */
  leaseTtlMs?: number;
  /** BullMQ stalled-job check interval in ms. Default 30_000. */
  stalledIntervalMs?: number;
  /**
   * Times a job may stall (its worker died, froze or lost the lock) and be taken over before it fails
   * as `stall_exhausted` (BullMQ's `maxStalledCount`). Stalls never consume retry attempts. Default 10.
   */
  stallBudget?: number;
  /** Multiplier on every retry backoff (tests shrink it). Default 1. */
  backoffScale?: number;
  /**
   * Running turns per tenant, fleet-wide, unless the tenant has its own limit (`pnpm tenant:limits`).
   * Beyond it a tenant's turns wait in the queue (not an attempt). Default 50.
   */
  tenantMaxRunningTurns?: number;
  /** Reconciler interval (0 = off). Default 30_000. */
  reconcileIntervalMs?: number;
  config?: Partial<TurnConfig>;
  /** Start consuming at once. Default true. */
  autorun?: boolean;
  /**
   * Serve `/healthz` (503 `not_live` once the cancel listener's connection ended for good), `/readyz`
   * (Postgres, Redis, the BullMQ connection, not stopping) and `/metrics` on this port (0 = any free
   * port). Default: no listener.
   */
  metricsPort?: number;
  /** Interface of the metrics listener. Default `127.0.0.1`. */
  metricsHost?: string;
  /** BullMQ's telemetry (OpenTelemetry spans; the job carries the producer's trace context). */
  telemetry?: Telemetry;
}

/** Stalls (worker died, froze, lost its lock) a turn job survives before it fails `stall_exhausted`. */
export const DEFAULT_STALL_BUDGET = 10;

export const DEFAULT_TURN_CONFIG: TurnConfig = {
  redisPrefix: 'ts',
  maxTokens: 1024,
  models: DEFAULT_MODELS,
  sessionRecovery: true,
  rebuildTokenBudget: 150_000,
  ...DEFAULT_PUBLISH_PACING,
  livePersistIntervalMs: 250,
  waitDelayMs: 200,
  backoffScale: 1,
};

export interface TurnWorker {
  worker: Worker;
  queue: Queue;
  running: RunningTurns;
  /** The merge window of this worker's streams right now, in ms (publish pacing). */
  publishWindowMs: () => number;
  /** The loop load publish pacing follows (0-1). */
  loopLoad: () => number;
  /** Prometheus metrics of this worker (`turnMetrics.registry` is what `/metrics` serves). */
  turnMetrics: TurnMetrics;
  /** The probe and scrape listener, when `metricsPort` was given. */
  metricsServer: MetricsServer | null;
  /**
   * Stop taking jobs; let running turns finish within `graceMs`, then interrupt them (partials marked
   * interrupted, jobs handed back to the queue for another worker) and close connections.
   */
  close(opts?: { graceMs?: number }): Promise<void>;
}

/** Build a turn worker (no signal handling: main.ts owns the process). */
export async function createWorker(deps: CreateWorkerDeps): Promise<TurnWorker> {
  const config: TurnConfig = {
    ...DEFAULT_TURN_CONFIG,
    ...(deps.backoffScale !== undefined ? { backoffScale: deps.backoffScale } : {}),
    ...deps.config,
  };
  const prefix = deps.bullPrefix ?? FLEET_DEFAULTS.BULL_PREFIX;
  const queueName = deps.queueName ?? TURNS_QUEUE;
  const connection = duplicateRedis(deps.redis, { maxRetriesPerRequest: null });
  const workerConnection = duplicateRedis(deps.redis, { maxRetriesPerRequest: null });
  const intakeConnection = duplicateRedis(deps.redis, { maxRetriesPerRequest: null });
  const telemetry = deps.telemetry ? { telemetry: deps.telemetry } : {};
  const queue = new Queue(queueName, { connection, prefix, ...telemetry });
  const intakeQueueName = deps.intakeQueueName ?? FLEET_DEFAULTS.TURNS_INTAKE_QUEUE_NAME;
  // Producer side of the intake queue: read only, for its depth gauges.
  const intakeQueue = new Queue(intakeQueueName, { connection, prefix });
  const running = new RunningTurns();
  // This process's event-loop load, read every 500 ms: what `PUBLISH_PACING=load` follows (and a gauge).
  const load = new LoopLoad().start();
  const publishWindowMs = () => pacedWindowMs(running.size, config, load.level);
  const turnMetrics = new TurnMetrics({
    activeStreams: () => running.size,
    coalesceWindowMs: publishWindowMs,
    loopLoad: () => load.level,
  });
  registerQueueDepth(turnMetrics.registry, [queue, intakeQueue]);
  const streams = instrumentStreams(deps.streams, turnMetrics);
  const leases = new ConversationLeases({
    redis: deps.redis,
    prefix: config.redisPrefix,
    ttlMs: deps.leaseTtlMs,
  });
  const liveReplies = new LiveReplyWriter({
    db: deps.db,
    intervalMs: config.livePersistIntervalMs,
    logger: deps.logger,
  });
  const tenantGate = {
    // A slot is held like the lease: renewed while the turn runs, freed by a dead worker's expiry.
    slots: new TenantSlots({ redis: deps.redis, prefix: config.redisPrefix, ttlMs: deps.leaseTtlMs }),
    limits: new RunningTurnLimits(deps.db, deps.tenantMaxRunningTurns ?? 50),
    queue,
    logger: deps.logger,
    waitMs: config.waitDelayMs,
  };
  const rateGate = new ClaudeRateGate(deps.redis, {
    redisPrefix: config.redisPrefix,
    keyId: deps.claudeKeyId ?? 'default',
  });
  const sharedDeps: Omit<TurnDeps, 'streams' | 'provider'> = {
    tenantGate,
    db: deps.db,
    liveReplies,
    redis: deps.redis,
    queue,
    rateGate,
    leases,
    running,
    publishWindowMs,
    logger: deps.logger,
    workerId: deps.workerId,
    config,
    ...(deps.outcomeTargets ? { outcomeTargets: deps.outcomeTargets } : {}),
  };
  /** A processor run's deps: its publisher and its provider observed as part of that run. */
  const runDeps = (state: RunState): TurnDeps => ({
    ...sharedDeps,
    streams: instrumentStreams(deps.streams, turnMetrics, state),
    // The gate wraps the instrumentation (a 429 closes it); a call held at the send (the gate closed
    // after the turn met it before its lease: rare) counts that wait in its duration.
    provider: gateProvider(instrumentProvider(deps.provider, turnMetrics, state), rateGate, deps.logger, {
      checkHeader: deps.gateCheckHeader ?? false,
    }),
  });

  const worker = new Worker(
    queueName,
    async (job, token, signal) => {
      if (job.name !== TURN_JOB_NAME) throw new Error(`unknown job name ${job.name}`);
      const attributes = {
        'turnstream.job_id': job.id,
        'turnstream.attempt': job.attemptsMade + 1,
        'turnstream.conversation_id': (job.data as { conversationId?: string } | null)?.conversationId,
        'turnstream.message_id': (job.data as { messageId?: string } | null)?.messageId,
      };
      return inSpan(
        'turn',
        attributes,
        () =>
          observeRun(job, async (state) => {
            try {
              const result = await processTurnJob(job, token, runDeps(state), signal);
              if (result.outcome === 'superseded') runEndedQuietly(turnMetrics, state, 'superseded');
              return result;
            } catch (err) {
              if (err instanceof WaitingError) runEndedQuietly(turnMetrics, state, 'interrupted');
              throw err;
            }
          }),
        // A delay (order wait, lease held), a rate-limit wait or a hand-back is not a failure of the span.
        {
          expected: (err) =>
            err instanceof DelayedError || err instanceof WaitingError || err instanceof RateLimitError,
        },
      );
    },
    {
      connection: workerConnection,
      prefix,
      ...telemetry,
      concurrency: deps.concurrency ?? 100,
      lockDuration: deps.lockDurationMs ?? 30_000,
      stalledInterval: deps.stalledIntervalMs ?? 30_000,
      // A stall is the fleet's problem, not the turn's: taken over up to the stall budget (see
      // docs/reliability.md). BullMQ fails the job past it; the failed handler says `stall_exhausted`.
      maxStalledCount: deps.stallBudget ?? DEFAULT_STALL_BUDGET,
      autorun: false,
      settings: {
        backoffStrategy: (attemptsMade, type, err) => {
          if (type !== TURN_BACKOFF) return 1000;
          // A turn's own retry announced its delay (jitter and scale included) in `turn.retrying`.
          if (err instanceof TransientTurnError) return err.backoffMs;
          // An unexpected error: grow with the attempts, jittered and scaled the same way.
          const base = 1000 * 2 ** Math.max(0, attemptsMade - 1);
          return Math.round((base / 2 + Math.random() * (base / 2)) * config.backoffScale);
        },
      },
    },
  );
  worker.on('error', (err) =>
    deps.logger.error({ event: 'worker.run_failed', err: err.message }, 'worker error'),
  );
  // A job whose worker died or froze (its lock expired) is moved back to be taken over.
  worker.on('stalled', () => turnMetrics.lostTakenOver(1));
  worker.on('failed', (job, err) => {
    deps.logger.info(
      { event: 'turn.job_failed', jobId: job?.id, reason: err.message.slice(0, 200) },
      'job attempt failed',
    );
    abandonFailedJob({ ...deps, streams }, job, err).catch((e: unknown) =>
      deps.logger.error(
        { event: 'turn.abandon_failed', jobId: job?.id, err: String(e) },
        'could not fail the message',
      ),
    );
  });

  const intake = createIntakeWorker({
    deps: {
      db: deps.db,
      streams,
      queue,
      logger: deps.logger,
      redis: deps.redis,
      redisPrefix: config.redisPrefix,
      defaultModel: deps.defaultModel ?? 'claude-sonnet-4-6',
    },
    connection: intakeConnection,
    prefix,
    queueName: intakeQueueName,
    concurrency: deps.intakeConcurrency ?? 20,
    lockDurationMs: deps.lockDurationMs ?? 30_000,
    stalledIntervalMs: deps.stalledIntervalMs ?? 30_000,
    autorun: deps.autorun ?? true,
  });

  const cancels = new CancelListener({
    redis: deps.cancelRedis ?? deps.redis,
    prefix: config.redisPrefix,
    running,
    logger: deps.logger,
  });
  await cancels.start();
  const reconciler = new Reconciler({
    db: deps.db,
    streams,
    queue,
    logger: deps.logger,
    intervalMs: deps.reconcileIntervalMs ?? 30_000,
    // One worker of the fleet scans per interval.
    turn: { redis: deps.redis, key: `${config.redisPrefix}:reconciler-turn` },
  });
  reconciler.start();

  if (deps.autorun ?? true) {
    worker
      .run()
      .catch((err) => deps.logger.error({ event: 'worker.run_failed', err: String(err) }, 'worker stopped'));
  }
  await worker.waitUntilReady();
  await intake.waitUntilReady();
  let stopping = false;
  const metricsServer =
    deps.metricsPort === undefined
      ? null
      : await startMetricsServer({
          registry: turnMetrics.registry,
          port: deps.metricsPort,
          host: deps.metricsHost,
          checks: {
            postgres: () => deps.db.execute('select 1'),
            // A cancel listener that gave up on Redis counts as Redis failing (as the API's subscriber does).
            redis: () => (cancels.failure ? Promise.reject(cancels.failure) : deps.redis.ping()),
            bullmq: async () => {
              if (!worker.isRunning()) throw new Error('worker not running');
              await workerConnection.ping();
              await queue.getJobCounts('active');
            },
          },
          stopping: () => stopping,
          liveness: () => notLiveReason(cancels),
        });
  deps.logger.info(
    { event: 'worker.start_completed', queue: queueName, concurrency: deps.concurrency ?? 100 },
    'worker ready',
  );

  let closing: Promise<void> | undefined;
  return {
    worker,
    queue,
    running,
    publishWindowMs,
    loopLoad: () => load.level,
    turnMetrics,
    metricsServer,
    close: (opts = {}) => {
      closing ??= (async () => {
        stopping = true;
        reconciler.stop();
        const intakeClosed = intake.close();
        const graceMs = opts.graceMs ?? 20_000;
        const closed = worker.close();
        let timer: NodeJS.Timeout | undefined;
        const grace = new Promise<'grace_over'>((resolve) => {
          timer = setTimeout(() => resolve('grace_over'), graceMs);
        });
        const first = await Promise.race([closed.then(() => 'closed' as const), grace]);
        clearTimeout(timer);
        if (first === 'grace_over') {
          const n = running.abortAll('shutdown');
          deps.logger.warn(
            { event: 'worker.shutdown_interrupting', turns: n },
            'grace period over; interrupting turns',
          );
          await closed;
        }
        await liveReplies.close();
        await intakeClosed;
        await cancels.stop();
        await queue.close();
        await intakeQueue.close();
        // BullMQ leaves connections it was given open: these are ours.
        await Promise.allSettled([connection.quit(), workerConnection.quit(), intakeConnection.quit()]);
        await metricsServer?.close();
        load.stop();
        deps.logger.info({ event: 'worker.stop_completed' }, 'worker stopped');
      })();
      return closing;
    },
  };
}
