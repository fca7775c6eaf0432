import { createMetricsRegistry, LATENCY_SECONDS_BUCKETS, TURN_SECONDS_BUCKETS } from '@turnstream/telemetry';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** How a turn attempt ended, as counted by `turnstream_turns_total`. */
export type TurnMetricOutcome =
  | 'completed'
  | 'failed'
  | 'cancelled'
  | 'retrying'
  | 'rate_limited'
  | 'superseded'
  | 'interrupted';

/** Token counts of one Claude reply. */
export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
  cacheReadInputTokens: number;
  cacheCreationInputTokens: number;
}

/**
 * The worker's Prometheus metrics. The turn path calls these small hooks and nothing else, so the
 * metric names, labels and buckets live here only.
 */
export class TurnMetrics {
  readonly registry: Registry;
  private readonly turns: Counter<'outcome' | 'error_class' | 'code'>;
  private readonly turnSeconds: Histogram<'outcome'>;
  private readonly firstChunkSeconds: Histogram;
  private readonly queueWaitSeconds: Histogram;
  private readonly claudeSeconds: Histogram<'model' | 'result'>;
  private readonly sessionClears: Counter<'reason'>;
  private readonly sessionRecoveries: Counter<'reason'>;
  private readonly retries: Counter<'reason'>;
  private readonly rateLimitWaits: Counter;
  private readonly rateLimitWaitSeconds: Histogram;
  private readonly fenceRejections: Counter<'stage'>;
  private readonly lostAttempts: Counter;
  private readonly tokens: Counter<'kind' | 'model'>;

  constructor(
    opts: {
      registry?: Registry;
      activeStreams?: () => number;
      coalesceWindowMs?: () => number;
      loopLoad?: () => number;
    } = {},
  ) {
    const registry = opts.registry ?? createMetricsRegistry({ service: 'worker' });
    this.registry = registry;
    const registers = [registry];
    this.turns = new Counter({
      name: 'turnstream_turns_total',
      help: 'Turn attempts by how they ended; error_class is the Claude error classification (none when completed).',
      labelNames: ['outcome', 'error_class', 'code'],
      registers,
    });
    this.turnSeconds = new Histogram({
      name: 'turnstream_turn_duration_seconds',
      help: 'Duration of a turn attempt, lease taken to its end.',
      labelNames: ['outcome'],
      buckets: TURN_SECONDS_BUCKETS,
      registers,
    });
    this.firstChunkSeconds = new Histogram({
      name: 'turnstream_turn_first_chunk_seconds',
      help: 'Time from the start of a turn attempt to its first text chunk.',
      buckets: LATENCY_SECONDS_BUCKETS,
      registers,
    });
    this.queueWaitSeconds = new Histogram({
      name: 'turnstream_turn_queue_wait_seconds',
      help: "Time from the message's acceptance (the job's acceptedAt) to its first attempt starting.",
      buckets: LATENCY_SECONDS_BUCKETS,
      registers,
    });
    this.claudeSeconds = new Histogram({
      name: 'turnstream_claude_call_duration_seconds',
      help: 'Duration of one Claude streaming call, by model and result (ok or the error class).',
      labelNames: ['model', 'result'],
      buckets: TURN_SECONDS_BUCKETS,
      registers,
    });
    new Gauge({
      name: 'turnstream_active_streams',
      help: 'Turns running in this worker process right now.',
      registers,
      collect() {
        this.set(opts.activeStreams?.() ?? 0);
      },
    });
    new Gauge({
      name: 'turnstream_coalesce_window_seconds',
      help: "How long this worker merges a stream's text deltas before publishing them right now (widens with the streams held while its event loop is busy).",
      registers,
      collect() {
        this.set((opts.coalesceWindowMs?.() ?? 0) / 1000);
      },
    });
    new Gauge({
      name: 'turnstream_publish_pacing_load',
      help: "This worker's event-loop utilization as publish pacing follows it (0-1, smoothed, with a dead band).",
      registers,
      collect() {
        this.set(opts.loopLoad?.() ?? 0);
      },
    });
    this.sessionClears = new Counter({
      name: 'turnstream_session_clears_total',
      help: 'Assistant sessions cleared (id set to NULL, transcript tombstoned), by reason.',
      labelNames: ['reason'],
      registers,
    });
    this.sessionRecoveries = new Counter({
      name: 'turnstream_session_recoveries_total',
      help: 'Turns that rebuilt a transcript from history after a clear and went on, by reason.',
      labelNames: ['reason'],
      registers,
    });
    this.retries = new Counter({
      name: 'turnstream_turn_retries_total',
      help: 'Turn attempts that will be retried after a backoff (transient errors), by reason.',
      labelNames: ['reason'],
      registers,
    });
    this.rateLimitWaits = new Counter({
      name: 'turnstream_rate_limit_waits_total',
      help: 'Times a turn had to wait for a Claude rate limit (no attempt consumed).',
      registers,
    });
    this.rateLimitWaitSeconds = new Histogram({
      name: 'turnstream_rate_limit_wait_seconds',
      help: 'How long Claude asked to wait (retry-after) when it rate-limited a turn.',
      buckets: [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600],
      registers,
    });
    this.fenceRejections = new Counter({
      name: 'turnstream_fence_rejections_total',
      help: 'Writes refused because a newer lease holder owns the conversation (the zombie wrote nothing more).',
      labelNames: ['stage'],
      registers,
    });
    this.lostAttempts = new Counter({
      name: 'turnstream_lost_attempts_total',
      help: 'Turn jobs of a dead or frozen worker (lock expired) taken over by the fleet (BullMQ stalled-job recovery).',
      registers,
    });
    this.tokens = new Counter({
      name: 'turnstream_tokens_total',
      help: 'Claude tokens by kind (input, output, cache_read, cache_write) and model.',
      labelNames: ['kind', 'model'],
      registers,
    });
  }

  turnEnded(
    outcome: TurnMetricOutcome,
    durationMs: number,
    error?: { errorClass: string; code?: string },
  ): void {
    this.turns.inc({ outcome, error_class: error?.errorClass ?? 'none', code: error?.code ?? 'none' });
    this.turnSeconds.observe({ outcome }, durationMs / 1000);
  }

  firstChunk(ms: number): void {
    this.firstChunkSeconds.observe(ms / 1000);
  }

  /** The first attempt of a message started: how long it waited since it was accepted. */
  queueWait(acceptedAt: number | undefined, now = Date.now()): void {
    if (acceptedAt !== undefined && acceptedAt <= now)
      this.queueWaitSeconds.observe((now - acceptedAt) / 1000);
  }

  claudeCall(model: string, result: string, ms: number): void {
    this.claudeSeconds.observe({ model, result }, ms / 1000);
  }

  sessionCleared(reason: string): void {
    this.sessionClears.inc({ reason });
  }

  sessionRecovered(reason: string): void {
    this.sessionRecoveries.inc({ reason });
  }

  retry(reason: string): void {
    this.retries.inc({ reason });
  }

  rateLimitWait(retryAfterMs: number): void {
    this.rateLimitWaits.inc();
    this.rateLimitWaitSeconds.observe(retryAfterMs / 1000);
  }

  fenceRejected(stage: string): void {
    this.fenceRejections.inc({ stage });
  }

  lostTakenOver(count: number): void {
    if (count > 0) this.lostAttempts.inc(count);
  }

  usage(model: string, u: TokenUsage): void {
    this.tokens.inc({ kind: 'input', model }, u.inputTokens);
    this.tokens.inc({ kind: 'output', model }, u.outputTokens);
    this.tokens.inc({ kind: 'cache_read', model }, u.cacheReadInputTokens);
    this.tokens.inc({ kind: 'cache_write', model }, u.cacheCreationInputTokens);
  }
}
