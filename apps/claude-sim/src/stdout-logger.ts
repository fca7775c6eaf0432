import { hostname } from 'node:os';
import type { SimLogger } from './logger.ts';

const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity } as const;
export type LogLevel = keyof typeof LEVELS;

function serialize(value: unknown): unknown {
  if (value instanceof Error) return { type: value.name, message: value.message, stack: value.stack };
  return value;
}

/**
 * A minimal JSON-lines logger with pino's line format (`level`, `time`, `pid`, `hostname`, fields,
 * `msg`), for `main.ts` only, so the simulator binary needs no logger package. Library users pass
 * their own pino logger to `createSimulator`.
 */
export function createStdoutLogger(
  level: LogLevel,
  write: (line: string) => void = (l) => process.stdout.write(l),
): SimLogger {
  const threshold = LEVELS[level];
  const base = { pid: process.pid, hostname: hostname() };
  const at =
    (name: Exclude<LogLevel, 'silent'>) =>
    (obj: object, msg?: string): void => {
      if (LEVELS[name] < threshold) return;
      const fields = Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, serialize(v)]));
      const line = { level: LEVELS[name], time: Date.now(), ...base, ...fields, ...(msg ? { msg } : {}) };
      write(`${JSON.stringify(line)}\n`);
    };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
