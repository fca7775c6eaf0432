/** The container's command: the argument after `main.js` on PID 1's command line (NUL-separated). */
export function containerCommand(cmdline: string): string {
  const args = cmdline.split('\0');
  const at = args.findIndex((a) => a.endsWith('main.js'));
  return at >= 0 ? (args[at + 1] ?? '') : '';
}

/** The health endpoint of the process a command runs; null when it has none (migrate, or a worker without METRICS_PORT). */
export function probeUrl(command: string, env: Record<string, string | undefined>): string | null {
  switch (command) {
    case 'api':
      return `http://127.0.0.1:${env.PORT || 3000}/healthz`;
    case 'worker':
      return env.METRICS_PORT ? `http://127.0.0.1:${env.METRICS_PORT}/healthz` : null;
    case 'simulator':
      return `http://127.0.0.1:${env.SIM_PORT || 4100}/__sim/health`;
    default:
      return null;
  }
}
