import {
  type ClaudeChunk,
  type ClaudeProvider,
  classifyClaudeError,
  type StreamRequest,
} from '@turnstream/claude';
import { isDeltaEvent, type TurnEvent } from '@turnstream/contracts';
import type { TurnStreams } from '@turnstream/streams';
import { type Span, SpanKind, SpanStatusCode, tracer } from '@turnstream/telemetry';
import { tapStream } from './tap-stream.ts';
import type { TurnMetrics } from './turn-metrics.ts';

/**
 * Instrumentation from the outside: the turn runner calls nothing. A processor run gets its own state
 * and its own wrapped Claude provider and event publisher (see {@link observeRun}), and the events a
 * turn publishes (its contract with clients) say how it ended. So the hot path stays the runner's own.
 * The state is carried explicitly, not in an AsyncLocalStorage: on Node 20 that turns on promise hooks
 * for every promise of the process, a cost paid per streamed chunk.
 */
export interface RunState {
  startedAt: number;
  acceptedAt: number | undefined;
  firstChunk: boolean;
  /** Class of the last Claude error of this run (the runner's classification, same function). */
  errorClass: string | null;
  /** Reason of a session clear in this run (a completion after it is a recovery). */
  cleared: string | null;
  ended: boolean;
  /** Span from Claude's final chunk to the turn's completion (persist + publish). */
  completing: Span | null;
}

/** Messages whose queue wait this process recorded (a turn started again after a rate-limit wait or a
 * hand-back is not waiting in the queue for the first time). Bounded: oldest forgotten first. */
const waitRecorded = new Set<string>();
const WAIT_RECORDED_MAX = 10_000;

function firstStart(messageId: string): boolean {
  if (waitRecorded.has(messageId)) return false;
  waitRecorded.add(messageId);
  if (waitRecorded.size > WAIT_RECORDED_MAX) waitRecorded.delete(waitRecorded.values().next().value!);
  return true;
}

/**
 * Run one processor invocation of a turn job with its metrics state: `fn` gets the state, to wrap the
 * provider and the publisher of this run with ({@link instrumentProvider}, {@link instrumentStreams}).
 */
export async function observeRun<T>(job: { data: unknown }, fn: (state: RunState) => Promise<T>): Promise<T> {
  const acceptedAt = (job.data as { acceptedAt?: unknown } | null)?.acceptedAt;
  const state: RunState = {
    startedAt: Date.now(),
    acceptedAt: typeof acceptedAt === 'number' ? acceptedAt : undefined,
    firstChunk: false,
    errorClass: null,
    cleared: null,
    ended: false,
    completing: null,
  };
  try {
    return await fn(state);
  } finally {
    state.completing?.end();
  }
}

/** The end of a run that published no terminal event: superseded (fenced out) or interrupted. */
export function runEndedQuietly(
  metrics: TurnMetrics,
  state: RunState,
  outcome: 'superseded' | 'interrupted',
): void {
  if (state.ended) return;
  state.ended = true;
  if (outcome === 'superseded') metrics.fenceRejected('turn');
  metrics.turnEnded(outcome, Date.now() - state.startedAt);
}

/**
 * A provider whose streams record call duration by result, time to first chunk and token usage; the
 * run's `state` (none outside a processor run) gets the first chunk, the error class and the span of
 * the completion.
 */
export function instrumentProvider(
  provider: ClaudeProvider,
  metrics: TurnMetrics,
  state?: RunState,
): ClaudeProvider {
  return {
    countTokens: (req) => provider.countTokens(req),
    stream: (req: StreamRequest) => observedStream(provider, metrics, req, state),
  };
}

function observedStream(
  provider: ClaudeProvider,
  metrics: TurnMetrics,
  req: StreamRequest,
  state: RunState | undefined,
): AsyncIterable<ClaudeChunk> {
  let start = 0;
  let span: Span | undefined;
  return tapStream(
    () => {
      start = Date.now();
      span = tracer().startSpan('claude.stream', {
        kind: SpanKind.CLIENT,
        attributes: { 'gen_ai.request.model': req.model, 'gen_ai.system': 'anthropic' },
      });
      return provider.stream(req);
    },
    {
      chunk: (chunk) => {
        if (chunk.type === 'text_delta' && state && !state.firstChunk) {
          state.firstChunk = true;
          metrics.firstChunk(Date.now() - state.startedAt);
        } else if (chunk.type === 'message_completed') {
          metrics.usage(req.model, chunk.usage);
          span?.setAttributes({
            'gen_ai.usage.input_tokens': chunk.usage.inputTokens,
            'gen_ai.usage.output_tokens': chunk.usage.outputTokens,
          });
          if (span?.isRecording()) span.end();
          if (state) state.completing = tracer().startSpan('turn.complete');
        }
      },
      done: () => metrics.claudeCall(req.model, 'ok', Date.now() - start),
      error: (err) => {
        const cls = classifyClaudeError(err, { signal: req.signal }).kind;
        if (state) state.errorClass = cls;
        metrics.claudeCall(req.model, cls, Date.now() - start);
        span?.setStatus({ code: SpanStatusCode.ERROR, message: cls });
      },
      end: () => {
        if (span?.isRecording()) span.end();
      },
    },
  );
}

/** Error class of a final failure code when no Claude error was seen in the run. */
function classOfCode(code: string): string {
  if (code === 'session_invalid') return 'session_invalid';
  if (code === 'transient_exhausted') return 'transient';
  if (code.startsWith('claude_')) return 'fatal';
  return 'internal';
}

/**
 * Count what published events say happened (only batches the log accepted), as part of the run
 * `state` (none: published outside a processor run).
 */
export function observeEvents(events: TurnEvent[], metrics: TurnMetrics, state?: RunState): void {
  for (const event of events) {
    // Most batches are text deltas alone: nothing to count, nothing allocated for them.
    if (isDeltaEvent(event)) continue;
    observeEvent(event, metrics, state);
  }
}

/** Whether a batch has anything {@link observeEvents} counts. */
function countable(event: TurnEvent): boolean {
  return !isDeltaEvent(event);
}

function observeEvent(event: TurnEvent, metrics: TurnMetrics, state: RunState | undefined): void {
  const end = (
    outcome: Parameters<TurnMetrics['turnEnded']>[0],
    error?: { errorClass: string; code?: string },
  ) => {
    if (state) state.ended = true;
    metrics.turnEnded(outcome, state ? Date.now() - state.startedAt : 0, error);
  };
  switch (event.type) {
    case 'turn.started':
      if (event.attempt === 1 && state && firstStart(event.messageId)) metrics.queueWait(state.acceptedAt);
      break;
    case 'session.cleared':
      metrics.sessionCleared(event.reason);
      if (state) state.cleared = event.reason;
      break;
    case 'turn.completed':
      state?.completing?.end();
      if (state?.cleared) metrics.sessionRecovered(state.cleared);
      end('completed');
      break;
    case 'turn.failed':
      end('failed', { errorClass: state?.errorClass ?? classOfCode(event.code), code: event.code });
      break;
    case 'turn.retrying':
      metrics.retry(event.code);
      end('retrying', { errorClass: state?.errorClass ?? 'transient', code: event.code });
      break;
    case 'turn.rate_limited':
      metrics.rateLimitWait(Math.max(0, Date.parse(event.retryAt) - Date.now()));
      end('rate_limited', { errorClass: 'rate_limited', code: 'rate_limited' });
      break;
    case 'turn.cancelled':
      end('cancelled', { errorClass: 'cancelled', code: 'cancelled' });
      break;
    default:
      break;
  }
}

/** Streams whose accepted batches are observed, as part of the run `state` (none: outside a run). */
export function instrumentStreams(streams: TurnStreams, metrics: TurnMetrics, state?: RunState): TurnStreams {
  const publish: TurnStreams['publish'] = (conversationId, fence, events) => {
    const published = streams.publish(conversationId, fence, events);
    // A batch of deltas alone (nearly every publish of a streaming turn) has nothing to count: it gets
    // the publish's own promise, no callback and no promise more.
    if (!events.some(countable)) return published;
    return published.then((result) => {
      if (result.ok) {
        try {
          observeEvents(events, metrics, state);
        } catch {
          // Metrics never fail a publish.
        }
      }
      return result;
    });
  };
  return new Proxy(streams, {
    get: (target, prop, receiver) => (prop === 'publish' ? publish : Reflect.get(target, prop, receiver)),
  });
}
