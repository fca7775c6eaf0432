import { Writable } from 'node:stream';
import { createLogger, type Logger } from './index.ts';

/** What {@link memoryLogger} gives a test. */
export interface MemoryLogger {
  logger: Logger;
  /** Every line written so far, parsed. */
  lines: Record<string, unknown>[];
  /** The same lines as written (JSON text), to check what never appears in them. */
  raw: string[];
}

/** A logger (as `createLogger` makes it) writing its JSON lines into memory, for tests to read. */
export function memoryLogger(opts: { name?: string; level?: string } = {}): MemoryLogger {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        raw.push(line);
        lines.push(JSON.parse(line));
      }
      cb();
    },
  });
  const logger = createLogger({ name: opts.name ?? 'test', level: opts.level ?? 'info', destination });
  return { logger, lines, raw };
}
