import { parsePrometheusText, type Sample } from '@turnstream/telemetry/testing';
import { freePort } from '@turnstream/testkit';
import { type SystemOptions, TestSystem } from './system.ts';

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

/** The system of a test file with its one worker serving metrics (`opts.workers` stays at 1). */
export async function startWithWorkerMetrics(
  opts: Omit<SystemOptions, 'workers'> = {},
): Promise<{ sys: TestSystem; metrics: WorkerMetrics }> {
  const metrics = await workerMetrics();
  const sys = await new TestSystem({ ...opts, workerEnv: { ...opts.workerEnv, ...metrics.env } }).start();
  return { sys, metrics };
}
