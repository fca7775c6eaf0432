import { type LogLine, ManagedProcess } from './process.ts';

/** The repository root (the kit lives in packages/testkit/src). */
export const REPO_ROOT = new URL('../../../', import.meta.url).pathname;

export type AppName = 'api' | 'worker' | 'claude-sim';

/** The structured log event each app writes once it is ready to serve. */
export const READY_EVENT: Record<AppName, string> = {
  api: 'api.start_completed',
  worker: 'worker.start_completed',
  'claude-sim': 'sim.listen_completed',
};

export interface TsxOptions {
  name: string;
  env?: Record<string, string>;
  echo?: boolean;
  logFile?: string;
  keepLines?: number;
}

/**
 * Run a TypeScript entry (a path from the repository root) as `node --import tsx <entry>`: one process,
 * so signals (SIGSTOP too) reach the program itself, not a wrapper.
 */
export function spawnTsx(entry: string, opts: TsxOptions): ManagedProcess {
  return new ManagedProcess({
    ...opts,
    command: process.execPath,
    args: ['--import', 'tsx', entry],
    cwd: REPO_ROOT,
  });
}

export interface StartedApp {
  proc: ManagedProcess;
  /** The app's ready log line (the API's and the simulator's carry `url`). */
  ready: LogLine;
}

/**
 * Start a real app process (`apps/<app>/src/main.ts`) and resolve once it logged its ready event.
 * `env` is the app's configuration; LOG_LEVEL defaults to debug so tests can wait for any event.
 */
export async function startApp(
  app: AppName,
  opts: TsxOptions & { readyTimeoutMs?: number },
): Promise<StartedApp> {
  const proc = spawnTsx(`apps/${app}/src/main.ts`, { ...opts, env: { LOG_LEVEL: 'debug', ...opts.env } });
  try {
    const ready = await proc.waitForEvent(READY_EVENT[app], opts.readyTimeoutMs ?? 60_000);
    return { proc, ready };
  } catch (err) {
    await proc.kill();
    throw err;
  }
}
