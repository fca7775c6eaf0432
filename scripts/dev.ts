/**
 * `npm start`: run Turnstream locally. Finds or starts Postgres and Redis (an embedded Postgres and
 * `redis-server` from PATH when none answers, data under `.turnstream/`), migrates the database, starts
 * the Claude simulator (when no ANTHROPIC_API_KEY is set), the worker and the API as child processes,
 * prints where to open the playground and a development API key, and stops everything on Ctrl-C.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { ensureDevTenant } from '@turnstream/api';
import { readEnvOrExit } from '@turnstream/config';
import { createDb, runMigrations } from '@turnstream/db';
import { banner } from './start/banner.ts';
import { parseLauncherEnv } from './start/env.ts';
import { formatLine } from './start/log-lines.ts';
import { LaunchError, resolveServices, type Service } from './start/services.ts';

const root = new URL('..', import.meta.url).pathname.replace(/\/$/, '');
const env = process.env;
const conf = readEnvOrExit('start', parseLauncherEnv);
const useSim = !conf.ANTHROPIC_API_KEY;
const children: ChildProcess[] = [];
const services: Service[] = [];

function start(name: string, entry: string, extraEnv: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: root,
    env: { ...env, LOG_LEVEL: conf.LOG_LEVEL, ...extraEnv },
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

async function waitForHttp(url: string, timeoutMs = 60_000): Promise<void> {
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
/** The apps first (they still need Postgres and Redis to stop cleanly), then the servers it started. */
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
  await Promise.all(services.map((s) => s.stop?.().catch(() => undefined)));
  process.exit(code);
}
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));
process.on('SIGHUP', () => void shutdown(0));

/** An admin key of the `development` tenant: `DEV_API_KEY` when set (kept across restarts), else a new one. */
async function devApiKey(databaseUrl: string): Promise<string> {
  const dbh = createDb({ url: databaseUrl, max: 1 });
  try {
    return (await ensureDevTenant(dbh.db, conf.DEV_API_KEY ? { key: conf.DEV_API_KEY } : {})).apiKey;
  } finally {
    await dbh.close();
  }
}

async function main(): Promise<void> {
  const { pg, redis } = await resolveServices(conf, root);
  services.push(pg, redis);
  if (shuttingDown) return;
  await runMigrations(pg.url);
  const key = await devApiKey(pg.url);
  const connections = { DATABASE_URL: pg.url, REDIS_URL: redis.url, MIGRATE_ON_START: 'false' };
  const claudeEnv: Record<string, string> = {};
  if (useSim) {
    start('sim', 'apps/claude-sim/src/main.ts', {
      SIM_PORT: String(conf.SIM_PORT),
      SIM_TOKEN_DELAY_MS: String(conf.SIM_TOKEN_DELAY_MS),
    });
    await waitForHttp(`http://127.0.0.1:${conf.SIM_PORT}/__sim/requests`);
    claudeEnv.ANTHROPIC_API_KEY = 'sim-key';
    claudeEnv.ANTHROPIC_BASE_URL = `http://127.0.0.1:${conf.SIM_PORT}`;
  }
  start('worker', 'apps/worker/src/main.ts', { ...connections, ...claudeEnv });
  start('api', 'apps/api/src/main.ts', {
    ...connections,
    PORT: String(conf.PORT),
    // The playground at `/` offers this key prefilled (to loopback clients only).
    PLAYGROUND_DEV_KEY: key,
  });
  await waitForHttp(`http://127.0.0.1:${conf.PORT}/readyz`);
  console.log(banner({ port: conf.PORT, simPort: useSim ? conf.SIM_PORT : null, key, pg, redis }));
}

main().catch((err: unknown) => {
  const message = err instanceof Error ? err.message : String(err);
  console.error(err instanceof LaunchError ? message : `failed to start: ${message}`);
  void shutdown(1);
});
