/**
 * The logging surface this package needs. A `pino.Logger` satisfies it structurally, so callers pass
 * their pino logger (the package takes no dependency on pino); the default is silent.
 */
export interface ClaudeLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const noop = () => {};

export const silentLogger: ClaudeLogger = { debug: noop, info: noop, warn: noop, error: noop };
