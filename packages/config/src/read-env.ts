import { EnvError } from './parse.ts';

/** Exit code of a process that refused to start on an invalid environment variable. */
export const ENV_INVALID_EXIT_CODE = 2;

/**
 * Parse the process environment at an app's start; on a bad variable, print every problem on one
 * structured line and exit {@link ENV_INVALID_EXIT_CODE} (no stack trace for a configuration mistake).
 */
export function readEnvOrExit<T>(
  service: string,
  parse: (source: Record<string, string | undefined>) => T,
): T {
  try {
    return parse(process.env);
  } catch (err) {
    if (!(err instanceof EnvError)) throw err;
    process.stderr.write(
      `${JSON.stringify({ level: 60, service, event: 'config.parse_failed', msg: err.message })}\n`,
    );
    process.exit(ENV_INVALID_EXIT_CODE);
  }
}
