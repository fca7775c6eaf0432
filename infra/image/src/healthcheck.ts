/**
 * The image's HEALTHCHECK: asks the process the container runs (the command after `main.js` on PID 1's
 * command line, also behind an init such as `docker run --init`) on its own health endpoint.
 * Exit 0 healthy, 1 not.
 */
import { readFileSync } from 'node:fs';
import { containerCommand, probeUrl } from './probe.ts';

function pid1CommandLine(): string {
  try {
    return readFileSync('/proc/1/cmdline', 'utf8');
  } catch {
    return '';
  }
}

const command = containerCommand(pid1CommandLine());
const url = probeUrl(command, process.env);
if (url === null) {
  if (command === 'worker') {
    process.stderr.write('the worker has no health endpoint: set METRICS_PORT\n');
    process.exit(1);
  }
  process.exit(0); // migrate: a one-shot, healthy while it runs
}
try {
  const res = await fetch(url, { signal: AbortSignal.timeout(4000) });
  process.exit(res.ok ? 0 : 1);
} catch (err) {
  process.stderr.write(`${url}: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
