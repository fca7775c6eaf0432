/**
 * The logging surface the simulator needs. A `pino.Logger` satisfies it structurally, so callers pass
 * their pino logger; the default is silent.
 */
export interface SimLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const noop = () => {};

export const silentLogger: SimLogger = { debug: noop, info: noop, warn: noop, error: noop };
