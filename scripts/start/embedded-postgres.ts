import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { freePort } from './net.ts';

export const EMBEDDED_PG_USER = 'postgres';
export const EMBEDDED_PG_PASSWORD = 'turnstream';

export interface StartedService {
  url: string;
  /** What the banner says about it. */
  description: string;
  stop(): Promise<void>;
}

/**
 * Start the embedded Postgres (data in `<dataDir>/postgres`, kept across restarts) through its
 * supervisor process, in a process group of its own so a Ctrl-C reaches the apps first; the
 * launcher stops it after them.
 */
export async function startEmbeddedPostgres(dataDir: string, root: string): Promise<StartedService> {
  mkdirSync(dataDir, { recursive: true });
  const pgDir = join(dataDir, 'postgres');
  const logFile = join(dataDir, 'postgres.log');
  const port = await freePort();
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(root, 'scripts/start/postgres-supervisor.ts'), pgDir, String(port), logFile],
    { cwd: root, detached: true, stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const fresh = await waitReady(child, logFile);
  const url = `postgres://${EMBEDDED_PG_USER}:${EMBEDDED_PG_PASSWORD}@127.0.0.1:${port}/turnstream`;
  return {
    url,
    description: `embedded Postgres on port ${port}, data in ${pgDir}${fresh ? ' (new)' : ''}, log ${logFile}`,
    stop: () => stopChild(child),
  };
}

function waitReady(child: ChildProcess, logFile: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      try {
        const msg = JSON.parse(line) as { event?: string; fresh?: boolean; error?: string };
        if (msg.event === 'postgres.ready') resolve(Boolean(msg.fresh));
        if (msg.event === 'postgres.start_failed') reject(new Error(`embedded Postgres: ${msg.error}`));
      } catch {
        // not ours
      }
    });
    child.once('exit', (code) =>
      reject(new Error(`embedded Postgres exited (code ${code}) before it was ready; see ${logFile}`)),
    );
  });
}

/** SIGTERM a service process and wait for it to exit. */
export function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}
