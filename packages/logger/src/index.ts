import { trace } from '@opentelemetry/api';
import { type Logger, type LoggerOptions, pino } from 'pino';

export type { Logger } from 'pino';

/** Paths never written to logs: secrets and user/assistant content. */
export const REDACT_PATHS = [
  'apiKey',
  'token',
  'authorization',
  'password',
  'content',
  'text',
  'system',
  'messages',
  'transcript',
  '*.apiKey',
  '*.token',
  '*.authorization',
  '*.password',
  '*.content',
  '*.text',
  '*.system',
  '*.messages',
  '*.transcript',
  'req.headers.authorization',
  'req.headers["x-api-key"]',
];

export interface CreateLoggerOptions {
  /** Service name bound to every line (`service` field). */
  name: string;
  /** pino level. Default `info`. `silent` disables output. */
  level?: string;
  /** Extra bindings on every line. */
  base?: Record<string, unknown>;
  /** Destination stream; default stdout. */
  destination?: NodeJS.WritableStream;
}

/**
 * Structured logger. Event names follow `domain.action_state` and go in the `event` field:
 * `log.info({ event: 'turn.stream_started', conversationId }, 'stream started')`.
 */
export function createLogger(opts: CreateLoggerOptions): Logger {
  const options: LoggerOptions = {
    level: opts.level ?? 'info',
    base: { service: opts.name, ...opts.base },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    // Lines written inside a traced span carry its trace id (nothing while tracing is off).
    mixin: activeTrace,
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return opts.destination ? pino(options, opts.destination as never) : pino(options);
}

/** `{ traceId, spanId }` of the active OpenTelemetry span, for log lines; `{}` outside one. */
export function activeTrace(): Record<string, string> {
  const span = trace.getActiveSpan();
  if (!span) return {};
  const c = span.spanContext();
  return trace.isSpanContextValid(c) ? { traceId: c.traceId, spanId: c.spanId } : {};
}

/** A logger that writes nothing (tests, library defaults). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

export { type RuntimeStatsOptions, startRuntimeStats } from './runtime-stats.ts';
