/**
 * The queue's own ceiling: BullMQ jobs that do nothing, through a worker with the same concurrency,
 * on the same Redis.
 */
import { performance } from 'node:perf_hooks';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { serveDriver } from '../lib/driver.ts';

serveDriver({
  async run(p: { redisUrl: string; prefix: string; jobs: number; concurrency: number }) {
    const connection = new Redis(p.redisUrl, { maxRetriesPerRequest: null });
    const name = `noop${Date.now()}`;
    const queue = new Queue(name, { connection, prefix: p.prefix });
    for (let i = 0; i < p.jobs; i += 500) {
      await queue.addBulk(
        Array.from({ length: Math.min(500, p.jobs - i) }, (_, k) => ({
          name: 'noop',
          data: { i: i + k },
          opts: { removeOnComplete: true },
        })),
      );
    }
    let completed = 0;
    let finish!: () => void;
    const done = new Promise<void>((r) => {
      finish = r;
    });
    const workerConnection = connection.duplicate({ maxRetriesPerRequest: null });
    const start = performance.now();
    const worker = new Worker(name, async () => undefined, {
      connection: workerConnection,
      prefix: p.prefix,
      concurrency: p.concurrency,
    });
    worker.on('completed', () => {
      if (++completed === p.jobs) finish();
    });
    await done;
    const wallMs = performance.now() - start;
    await worker.close();
    await queue.obliterate({ force: true });
    await queue.close();
    await Promise.all([connection.quit(), workerConnection.quit()]);
    return {
      jobs: p.jobs,
      wallMs: Math.round(wallMs),
      jobsPerSec: Math.round((p.jobs / wallMs) * 1000 * 10) / 10,
    };
  },
});
