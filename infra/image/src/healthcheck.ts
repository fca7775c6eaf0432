/**
 * The image's HEALTHCHECK: asks the process the container runs (the command after `main.js` on PID 1's
 * command line) on its own health endpoint. Exit 0 healthy, 1 not.
 */
import { readFileSync } from 'node:fs';

function containerCommand(): string {
  try {
    const args = readFileSync('/proc/1/cmdline', 'utf8').split('\0');
    const at = args.findIndex((a) => a.endsWith('main.js'));
    return at >= 0 ? (args[at + 1] ?? '') : '';
  } catch {
    return '';
  }
}

function probeUrl(command: string, env: NodeJS.ProcessEnv): string | null {
  switch (command) {
    case 'api':
      return `http://127.0.0.1:${env.PORT || 3000}/healthz`;
    case 'worker':
      return env.METRICS_PORT ? `http://127.0.0.1:${env.METRICS_PORT}/healthz` : null;
    case 'simulator':
      return `http://127.0.0.1:${env.SIM_PORT || 4100}/__sim/health`;
    default:
      return null; // migrate: a one-shot, healthy while it runs
  }
}

const command = containerCommand();
const url = probeUrl(command, process.env);
if (url === null) {
  if (command === 'worker') {
    process.stderr.write('the worker has no health endpoint: set METRICS_PORT\n');
    process.exit(1);
  }
  process.exit(0);
}
try {
  const res = await fetch(url, { signal: AbortSignal.timeout(4000) });
  process.exit(res.ok ? 0 : 1);
} catch (err) {
  process.stderr.write(`${url}: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
