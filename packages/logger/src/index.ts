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
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return opts.destination ? pino(options, opts.destination as never) : pino(options);
}

/** A logger that writes nothing (tests, library defaults). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
