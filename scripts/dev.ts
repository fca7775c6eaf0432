/**
 * `npm start`: run Turnstream locally. Migrates the database, starts the Claude simulator (when no
 * ANTHROPIC_API_KEY is set), the worker and the API as child processes, prints where the API listens
 * and a development API key, and stops everything on Ctrl-C.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { ensureDevTenant } from '@turnstream/api';
import { DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL, readEnvOrExit } from '@turnstream/config';
import { createDb, runMigrations } from '@turnstream/db';
import { parseLauncherEnv } from './start/env.ts';

const root = new URL('..', import.meta.url).pathname;
const env = process.env;
const conf = readEnvOrExit('start', parseLauncherEnv);
const databaseUrl = conf.DATABASE_URL ?? DEFAULT_DATABASE_URL;
const redisUrl = conf.REDIS_URL ?? DEFAULT_REDIS_URL;
const apiPort = conf.PORT;
const simPort = conf.SIM_PORT;
const useSim = !conf.ANTHROPIC_API_KEY;
const children: ChildProcess[] = [];

function start(name: string, entry: string, extraEnv: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: root,
    env: {
      ...env,
      DATABASE_URL: databaseUrl,
      REDIS_URL: redisUrl,
      LOG_LEVEL: conf.LOG_LEVEL,
      ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream! }).on('line', (line) => console.log(formatLine(name, line)));
  }
  child.on('exit', (code, signal) => {
    if (!shuttingDown) {
      console.error(`[${name}] exited (${signal ?? code}); stopping`);
      void shutdown(1);
    }
  });
  children.push(child);
  return child;
}

function formatLine(name: string, line: string): string {
  try {
    const o = JSON.parse(line) as Record<string, unknown>;
    const level = (
      { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' } as Record<string, string>
    )[String(o.level)];
    const { level: _l, time: _t, pid: _p, hostname: _h, service: _s, msg, event, ...rest } = o;
    const extra = Object.entries(rest)
      .filter(([, v]) => v !== undefined && typeof v !== 'object')
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    return `[${name}] ${level ?? ''} ${event ?? ''} ${msg ?? ''} ${extra}`.replace(/\s+/g, ' ').trim();
  } catch {
    return `[${name}] ${line}`;
  }
}

async function waitForHttp(url: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not become ready`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

let shuttingDown = false;
async function shutdown(code: number): Promise<void> {
  if (shuttingDown) return;
  shuttingDown = true;
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          c.once('exit', () => resolve());
          c.kill('SIGTERM');
        }),
    ),
  );
  process.exit(code);
}
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));

/** An admin key of the `development` tenant: `DEV_API_KEY` when set (kept across restarts), else a new one. */
async function devApiKey(): Promise<string> {
  const dbh = createDb({ url: databaseUrl, max: 1 });
  try {
    return (await ensureDevTenant(dbh.db, conf.DEV_API_KEY ? { key: conf.DEV_API_KEY } : {})).apiKey;
  } finally {
    await dbh.close();
  }
}

async function main(): Promise<void> {
  await runMigrations(databaseUrl);
  const key = await devApiKey();
  const claudeEnv: Record<string, string> = {};
  if (useSim) {
    start('sim', 'apps/claude-sim/src/main.ts', {
      SIM_PORT: String(simPort),
      SIM_TOKEN_DELAY_MS: String(conf.SIM_TOKEN_DELAY_MS),
    });
    await waitForHttp(`http://127.0.0.1:${simPort}/__sim/requests`);
    claudeEnv.ANTHROPIC_API_KEY = 'sim-key';
    claudeEnv.ANTHROPIC_BASE_URL = `http://127.0.0.1:${simPort}`;
  }
  start('worker', 'apps/worker/src/main.ts', { ...claudeEnv, MIGRATE_ON_START: 'false' });
  start('api', 'apps/api/src/main.ts', {
    PORT: String(apiPort),
    MIGRATE_ON_START: 'false',
    // The playground at `/` offers this key prefilled (to loopback clients only).
    PLAYGROUND_DEV_KEY: key,
  });
  await waitForHttp(`http://127.0.0.1:${apiPort}/readyz`);
  const claude = useSim
    ? `simulator at http://127.0.0.1:${simPort} (set ANTHROPIC_API_KEY to use Claude)`
    : 'Anthropic API';
  console.log(
    [
      '',
      '  Turnstream is running',
      `    API        http://127.0.0.1:${apiPort}`,
      `    Claude     ${claude}`,
      `    API key    ${key}   (development tenant, admin role)`,
      '',
      `    export TS=http://127.0.0.1:${apiPort} KEY=${key}`,
      '    then follow the curl session in README.md. Ctrl-C stops everything.',
      '',
    ].join('\n'),
  );
}

main().catch((err: unknown) => {
  console.error(`failed to start: ${err instanceof Error ? err.message : String(err)}`);
  void shutdown(1);
});
