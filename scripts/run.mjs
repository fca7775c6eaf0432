#!/usr/bin/env node
// `npm start` and `npm test` from a fresh clone: needs only Node 20+ and npm.
// Makes sure pnpm and the workspace's dependencies are installed (from the lockfile), then runs.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';

const PNPM_VERSION = JSON.parse(
  readFileSync(new URL('../package.json', import.meta.url)),
).packageManager.split('@')[1];
const root = new URL('..', import.meta.url).pathname;

function run(cmd, args, opts = {}) {
  const res = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, ...opts });
  if (res.error) throw res.error;
  return res.status ?? 1;
}

function pnpmCommand() {
  const probe = spawnSync('pnpm', ['--version'], { encoding: 'utf8' });
  if (probe.status === 0 && probe.stdout.trim() === PNPM_VERSION) return ['pnpm', []];
  return ['npx', ['--yes', `pnpm@${PNPM_VERSION}`]];
}

function needsInstall() {
  const marker = `${root}node_modules/.modules.yaml`;
  if (!existsSync(marker)) return true;
  return statSync(`${root}pnpm-lock.yaml`).mtimeMs > statSync(marker).mtimeMs;
}

const [pnpm, pre] = pnpmCommand();
const pn = (...args) => run(pnpm, [...pre, ...args]);

if (needsInstall()) {
  const code = pn('install', '--frozen-lockfile');
  if (code !== 0) process.exit(code);
}

const task = process.argv[2];
const extra = process.argv.slice(3);
// The playground page the API serves at `/` is built from source (never committed).
const buildPlayground = () => pn('build:web');
let code;
if (task === 'start') {
  code = buildPlayground();
  // One process with tsx's loader (no tsx CLI in between, which may SIGKILL its child on Ctrl-C), so
  // the launcher gets the signal itself and stops what it started; this wrapper waits for it.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => {});
  if (code === 0) code = run(process.execPath, ['--import', 'tsx', 'scripts/dev.ts', ...extra]);
} else if (task === 'test') {
  code = pn('lint');
  if (code === 0) code = pn('typecheck');
  if (code === 0) code = buildPlayground();
  if (code === 0) {
    const report = `${root}node_modules/.cache/vitest-report.json`;
    code = pn(
      'exec',
      'vitest',
      'run',
      '--reporter=default',
      '--reporter=json',
      `--outputFile.json=${report}`,
      ...extra,
    );
    // A plain closing line any CI can read.
    if (existsSync(report)) {
      const r = JSON.parse(readFileSync(report, 'utf8'));
      console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed`);
    }
  }
} else {
  console.error(`unknown task ${task}`);
  code = 2;
}
process.exit(code);
