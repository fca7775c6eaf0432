#!/usr/bin/env node
// `npm start` and `npm test` from a fresh clone: needs only Node 20+ and npm.
// Makes sure pnpm and the workspace's dependencies are installed (from the lockfile), then runs.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';

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
/** One vitest run with a JSON report; adds its counts to `totals` (a run with no report counts as failed). */
function vitest(reportName, args, totals, env = {}) {
  const report = `${root}node_modules/.cache/${reportName}`;
  rmSync(report, { force: true });
  const status = run(
    pnpm,
    [
      ...pre,
      'exec',
      'vitest',
      'run',
      '--reporter=default',
      '--reporter=json',
      `--outputFile.json=${report}`,
      ...args,
    ],
    { env: { ...process.env, ...env } },
  );
  if (existsSync(report)) {
    const r = JSON.parse(readFileSync(report, 'utf8'));
    totals.passed += r.numPassedTests;
    totals.failed += r.numFailedTests;
  } else totals.failed++;
  return status;
}

let code;
if (task === 'start') {
  code = buildPlayground();
  // One process with tsx's loader (no tsx CLI in between, which may SIGKILL its child on Ctrl-C), so
  // the launcher gets the signal itself and stops what it started; this wrapper waits for it.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => {});
  if (code === 0) code = run(process.execPath, ['--import', 'tsx', 'scripts/dev.ts', ...extra]);
} else if (task === 'test') {
  // Every test, then the chaos suite's bounded profile (test/chaos/README.md: a few minutes of real
  // processes under faults, a new seed each run); `--no-chaos` leaves it out. It runs even when a test
  // failed (its table tells more), and its failure fails the run.
  const chaos = !extra.includes('--no-chaos');
  const args = extra.filter((a) => a !== '--chaos' && a !== '--no-chaos');
  code = pn('lint');
  if (code === 0) code = pn('typecheck');
  if (code === 0) code = buildPlayground();
  if (code === 0) {
    const totals = { passed: 0, failed: 0 };
    code = vitest('vitest-report.json', args, totals);
    if (chaos) {
      const chaosCode = vitest('vitest-chaos-report.json', ['--config', 'vitest.chaos.config.ts'], totals, {
        CHAOS_PROFILE: 'bounded',
      });
      if (code === 0) code = chaosCode;
    }
    // A plain closing line any CI can read.
    console.log(`${totals.passed} passed, ${totals.failed} failed`);
  }
} else {
  console.error(`unknown task ${task}`);
  code = 2;
}
process.exit(code);
