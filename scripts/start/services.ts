import { DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL } from '@turnstream/config';
import { type StartedService, startEmbeddedPostgres } from './embedded-postgres.ts';
import type { LauncherEnv } from './env.ts';
import { answers, hostPort } from './net.ts';
import { findRedisServer, REDIS_INSTALL_HINT, startLocalRedis } from './redis.ts';

/** Postgres or Redis as `npm start` uses it; `stop` is set when it started the server itself. */
export interface Service {
  url: string;
  description: string;
  stop?: () => Promise<void>;
}

export class LaunchError extends Error {
  override name = 'LaunchError';
}

const shown = (root: string, text: string) => text.replaceAll(`${root}/`, '').replaceAll(root, '.');

/** DATABASE_URL when set; else the local server when it answers (mode auto); else the embedded one. */
export async function resolvePostgres(conf: LauncherEnv, root: string): Promise<Service> {
  if (conf.DATABASE_URL)
    return { url: conf.DATABASE_URL, description: `DATABASE_URL (${redact(conf.DATABASE_URL)})` };
  const local = hostPort(DEFAULT_DATABASE_URL, 5432);
  if (
    conf.TURNSTREAM_EMBEDDED === 'never' ||
    (conf.TURNSTREAM_EMBEDDED === 'auto' && (await answers(local.host, local.port)))
  )
    return { url: DEFAULT_DATABASE_URL, description: `local server, ${DEFAULT_DATABASE_URL}` };
  const started: StartedService = await startEmbeddedPostgres(dataDir(conf, root), root);
  return { ...started, description: shown(root, started.description) };
}

/** REDIS_URL when set; else the local server when it answers (mode auto); else redis-server from PATH. */
export async function resolveRedis(conf: LauncherEnv, root: string): Promise<Service> {
  if (conf.REDIS_URL) return { url: conf.REDIS_URL, description: `REDIS_URL (${redact(conf.REDIS_URL)})` };
  const local = hostPort(DEFAULT_REDIS_URL, 6379);
  if (
    conf.TURNSTREAM_EMBEDDED === 'never' ||
    (conf.TURNSTREAM_EMBEDDED === 'auto' && (await answers(local.host, local.port)))
  )
    return { url: DEFAULT_REDIS_URL, description: `local server, ${DEFAULT_REDIS_URL}` };
  const binary = findRedisServer();
  if (!binary) throw new LaunchError(REDIS_INSTALL_HINT);
  const started = await startLocalRedis(binary, dataDir(conf, root), root);
  return { ...started, description: shown(root, started.description) };
}

export function dataDir(conf: LauncherEnv, root: string): string {
  return conf.TURNSTREAM_DATA_DIR.startsWith('/')
    ? conf.TURNSTREAM_DATA_DIR
    : `${root}/${conf.TURNSTREAM_DATA_DIR}`;
}

/** Both, started side by side; when one fails, the other (if it started) is stopped again. */
export async function resolveServices(
  conf: LauncherEnv,
  root: string,
): Promise<{ pg: Service; redis: Service }> {
  // Say at once what to install, before starting anything else.
  if (!conf.REDIS_URL && conf.TURNSTREAM_EMBEDDED !== 'never' && !findRedisServer()) {
    const local = hostPort(DEFAULT_REDIS_URL, 6379);
    if (conf.TURNSTREAM_EMBEDDED === 'always' || !(await answers(local.host, local.port)))
      throw new LaunchError(REDIS_INSTALL_HINT);
  }
  const [pg, redis] = await Promise.allSettled([resolvePostgres(conf, root), resolveRedis(conf, root)]);
  if (pg.status === 'fulfilled' && redis.status === 'fulfilled') return { pg: pg.value, redis: redis.value };
  await Promise.all([pg, redis].map((r) => (r.status === 'fulfilled' ? r.value.stop?.() : undefined)));
  throw (pg.status === 'rejected' ? pg.reason : (redis as PromiseRejectedResult).reason) as Error;
}

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'set';
  }
}
