import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { freePort, REPO_ROOT, waitFor } from '@turnstream/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readmeCurlSession, runBash } from '../support/readme.ts';

// The acceptance test of `npm start` on a bare machine: a temporary copy of the repository, the embedded
// path forced (this machine's own servers answer on the default ports), the README's curl session, Ctrl-C
// (SIGINT to the process group, as a terminal sends it), nothing left running, and a second start that
// still has the conversation (Postgres data and the Redis AOF under .turnstream/).
let copy: string;
let current: { proc: ChildProcess; output: string[] } | null = null;

/** The repository's files (tracked and new, not ignored) with their times, the installed node_modules shared. */
function copyRepository(): string {
  const dir = mkdtempSync(join(tmpdir(), 'turnstream-first-run-'));
  chmodSync(dir, 0o755); // run as root, the embedded Postgres runs as `postgres`, which must reach it
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
  })
    .split('\0')
    .filter((f) => f && existsSync(join(REPO_ROOT, f)));
  for (const file of files) {
    const to = join(dir, file);
    mkdirSync(dirname(to), { recursive: true });
    copyFileSync(join(REPO_ROOT, file), to);
    const { atime, mtime } = statSync(join(REPO_ROOT, file));
    utimesSync(to, atime, mtime); // an unchanged lockfile must not look newer than the install
  }
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'));
  for (const group of ['apps', 'packages']) {
    for (const pkg of readdirSync(join(REPO_ROOT, group))) copyModules(join(group, pkg), dir);
  }
  for (const pkg of ['test', 'infra']) copyModules(pkg, dir);
  return dir;
}

/** A workspace package's node_modules: pnpm's relative links, which then resolve inside the copy. */
function copyModules(pkg: string, dir: string): void {
  const from = join(REPO_ROOT, pkg, 'node_modules');
  if (existsSync(from))
    cpSync(from, join(dir, pkg, 'node_modules'), { recursive: true, verbatimSymlinks: true });
}

function npmStart(env: Record<string, string>): { proc: ChildProcess; output: string[] } {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(
      ([k]) =>
        !/^(DATABASE_URL|REDIS_URL|REDIS_PREFIX|BULL_PREFIX|TURNS_QUEUE_NAME|ANTHROPIC_|DEV_API_KEY|PORT$)/.test(
          k,
        ),
    ),
  );
  const proc = spawn('npm', ['start'], { cwd: copy, env: { ...clean, ...env }, detached: true });
  const output: string[] = [];
  for (const s of [proc.stdout!, proc.stderr!]) s.on('data', (d) => output.push(String(d)));
  return { proc, output };
}

async function banner(run: { output: string[] }): Promise<{ ts: string; key: string; text: string }> {
  const text = await waitFor(
    () => {
      const all = run.output.join('');
      return /export TS=\S+ KEY=\S+/.test(all) ? all : undefined;
    },
    { timeoutMs: 300_000, message: 'the npm start banner' },
  );
  const [, ts, key] = /export TS=(\S+) KEY=(\S+)/.exec(text)!;
  return { ts: ts!, key: key!, text };
}

/** Processes running from the copy: by working directory or command line (Postgres runs in its data dir). */
function processesOfCopy(): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cwd = readlinkSync(`/proc/${pid}/cwd`);
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (cwd.startsWith(copy) || cmd.includes(copy)) found.push(`${pid} ${cmd.slice(0, 120)}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

async function ctrlC(run: { proc: ChildProcess }): Promise<void> {
  process.kill(-run.proc.pid!, 'SIGINT');
  await waitFor(() => run.proc.exitCode !== null || run.proc.signalCode !== null, {
    timeoutMs: 60_000,
    message: 'npm start to exit',
  });
  await waitFor(() => processesOfCopy().length === 0, {
    timeoutMs: 60_000,
    message: 'no process of it left',
  });
}

beforeAll(() => {
  copy = copyRepository();
});
afterAll(async () => {
  if (current?.proc.pid && current.proc.exitCode === null) {
    try {
      process.kill(-current.proc.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const line of processesOfCopy()) process.kill(Number(line.split(' ')[0]), 'SIGKILL');
  if (copy) rmSync(copy, { recursive: true, force: true });
});

describe('first run: npm start on the embedded path', () => {
  it('serves the README curl session, stops on Ctrl-C leaving nothing, and keeps the conversation across restarts', async () => {
    const env = {
      TURNSTREAM_EMBEDDED: 'always',
      PORT: String(await freePort()),
      SIM_PORT: String(await freePort()),
      SIM_TOKEN_DELAY_MS: '2',
    };
    current = npmStart(env);
    const first = await banner(current);
    expect(first.text).toMatch(
      /Postgres +embedded Postgres on port \d+, data in \.turnstream\/postgres \(new\)/,
    );
    expect(first.text).toMatch(/Redis +redis-server on port \d+ .*AOF in \.turnstream\/redis/);
    expect(first.text).toContain(`Playground  ${first.ts}/`);

    const out = await runBash(`${readmeCurlSession()}\necho "CONV=$CONV"\n`, {
      TS: first.ts,
      KEY: first.key,
    });
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    expect(out.stdout.match(/event: turn\.completed/g)).toHaveLength(2);
    const conv = /CONV=(\S+)/.exec(out.stdout)![1]!;
    const before = await messages(first, conv);
    expect(before.map((m) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant']);

    // The first message's event stream, to replay from Redis after the restart.
    const firstEventId = /^id: (\S+)$/m.exec(out.stdout)![1]!;
    const firstMessageId = /"messageId":"([^"]+)"/.exec(out.stdout)![1]!;

    await ctrlC(current);
    expect(existsSync(join(copy, '.turnstream/redis/appendonlydir'))).toBe(true);

    current = npmStart(env);
    const second = await banner(current);
    expect(second.text).toMatch(/data in \.turnstream\/postgres, /); // the same data, not new
    expect(await messages(second, conv)).toEqual(before);
    // Chunks come only from the Redis event log (Postgres can rebuild just the terminal event): the AOF kept it.
    const replay = await fetch(
      `${second.ts}/v1/conversations/${conv}/events?messageId=${firstMessageId}&until=turn`,
      { headers: { authorization: `Bearer ${second.key}`, 'last-event-id': firstEventId } },
    );
    const replayed = await replay.text();
    expect(replayed).toMatch(/event: chunk/);
    expect(replayed).toMatch(/event: turn\.completed/);
    expect(replayed).not.toMatch(/stream\.gap/);

    await ctrlC(current);
  }, 900_000);
});

async function messages(
  api: { ts: string; key: string },
  conv: string,
): Promise<Array<{ role: string; content: string }>> {
  const res = await fetch(`${api.ts}/v1/conversations/${conv}/messages`, {
    headers: { authorization: `Bearer ${api.key}` },
  });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { messages: Array<{ role: string; content: string }> };
  const items = body.messages;
  return items.map((m) => ({ role: m.role, content: m.content }));
}
