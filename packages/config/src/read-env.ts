import { EnvError } from './index.ts';

/**
 * Parse the process environment at an app's start; on a bad variable, print every problem on one
 * structured line and exit 2 (no stack trace for a configuration mistake).
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
    process.exit(2);
  }
}
