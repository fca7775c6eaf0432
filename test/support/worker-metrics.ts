import { parsePrometheusText, type Sample } from '@turnstream/telemetry/testing';
import { freePort } from '@turnstream/testkit';
import { beforeAll } from 'vitest';
import type { TestSystem } from './system.ts';

/** A worker's metrics server: start the worker with `env` (its `METRICS_PORT`), then `scrape` it. */
export interface WorkerMetrics {
  /** Base URL (`/metrics`, `/healthz`, `/readyz`). */
  url: string;
  env: { METRICS_PORT: string };
  /** The samples `/metrics` serves now. */
  scrape(): Promise<Sample[]>;
}

/** A free port for a worker's metrics server, and how to read it. */
export async function workerMetrics(): Promise<WorkerMetrics> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    env: { METRICS_PORT: String(port) },
    scrape: async () => parsePrometheusText(await (await fetch(`${url}/metrics`)).text()),
  };
}

/**
 * A worker of `sys` serving its metrics, started in beforeAll (register it after the system's fixture, and
 * give the system no other worker when the counts must be this worker's alone).
 */
export function workerWithMetrics(sys: TestSystem): WorkerMetrics {
  let metrics: WorkerMetrics | undefined;
  const started = (): WorkerMetrics => {
    if (!metrics) throw new Error('the metrics worker is started in beforeAll');
    return metrics;
  };
  beforeAll(async () => {
    metrics = await workerMetrics();
    await sys.startWorker(metrics.env);
  });
  return {
    get url() {
      return started().url;
    },
    get env() {
      return started().env;
    },
    scrape: () => started().scrape(),
  };
}
