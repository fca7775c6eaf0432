import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Gauge, type Registry } from 'prom-client';

export type CheckResult = 'ok' | 'failed';
export type ReadinessCheck = () => Promise<unknown>;

/** How long one readiness check may take before it counts as failed. */
const CHECK_TIMEOUT_MS = 2000;

export async function runCheck(check: ReadinessCheck): Promise<CheckResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timeout')), CHECK_TIMEOUT_MS);
  });
  try {
    await Promise.race([check(), timeout]);
    return 'ok';
  } catch {
    return 'failed';
  } finally {
    clearTimeout(timer);
  }
}

export interface MetricsServerOptions {
  registry: Registry;
  port: number;
  host?: string;
  /** Named readiness checks (each resolves when healthy, within 2 s). */
  checks: Record<string, ReadinessCheck>;
  /** true once the process is stopping: `/readyz` answers 503 from then on. */
  stopping?: () => boolean;
  /**
   * Why the process cannot recover by itself and must be restarted (a connection that stopped
   * reconnecting for good), or null: `/healthz`, the liveness probe, answers 503
   * `{"status":"not_live","reason":...}` with that reason.
   */
  liveness?: () => string | null;
}

/**
 * `turnstream_ready{check}`: 1 when the check passes at scrape time, 0 when it fails; check `process` is 0
 * while the process is stopping. Alerts read readiness from here (Prometheus scrapes /metrics, not /readyz).
 */
export function registerReadiness(
  registry: Registry,
  checks: Record<string, ReadinessCheck>,
  stopping?: () => boolean,
): void {
  new Gauge({
    name: 'turnstream_ready',
    help: 'Readiness by check at scrape time (1 ok, 0 failed); check="process" is 0 while stopping.',
    labelNames: ['check'],
    registers: [registry],
    async collect() {
      const names = Object.keys(checks);
      const results = await Promise.all(names.map((n) => runCheck(checks[n]!)));
      for (const [i, n] of names.entries()) this.set({ check: n }, results[i] === 'ok' ? 1 : 0);
      this.set({ check: 'process' }, stopping?.() ? 0 : 1);
    },
  });
}

export interface MetricsServer {
  server: Server;
  port: number;
  close(): Promise<void>;
}

/**
 * The probe and scrape listener: `GET /healthz` (200 while the process runs and can recover by
 * itself; 503 with the reason once `liveness` names one),
 * `GET /readyz` (200 when every check passes and the process is not stopping, else 503 naming the
 * failures), `GET /metrics` (Prometheus text).
 */
export async function startMetricsServer(opts: MetricsServerOptions): Promise<MetricsServer> {
  if (!opts.registry.getSingleMetric('turnstream_ready'))
    registerReadiness(opts.registry, opts.checks, opts.stopping);
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain', 'method not allowed\n');
    if (path === '/healthz') {
      const dead = opts.liveness?.() ?? null;
      if (dead === null) return send(200, 'application/json', '{"status":"ok"}');
      return send(503, 'application/json', JSON.stringify({ status: 'not_live', reason: dead }));
    }
    if (path === '/readyz') {
      void (async () => {
        const names = Object.keys(opts.checks);
        const results = await Promise.all(names.map((n) => runCheck(opts.checks[n]!)));
        const checks = Object.fromEntries(names.map((n, i) => [n, results[i]]));
        const stopping = opts.stopping?.() ?? false;
        const ready = !stopping && results.every((r) => r === 'ok');
        send(
          ready ? 200 : 503,
          'application/json',
          JSON.stringify({ status: ready ? 'ready' : stopping ? 'stopping' : 'not_ready', checks }),
        );
      })();
      return;
    }
    if (path === '/metrics') {
      opts.registry
        .metrics()
        .then((text) => send(200, opts.registry.contentType, text))
        .catch(() => send(500, 'text/plain', 'metrics collection failed\n'));
      return;
    }
    send(404, 'text/plain', 'not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
