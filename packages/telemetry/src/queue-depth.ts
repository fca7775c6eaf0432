import type { Queue } from 'bullmq';
import { Gauge, type Registry } from 'prom-client';

/** States of `turnstream_queue_jobs`. `delayed_due`: delayed jobs whose time has come (they need a slot now). */
export const QUEUE_DEPTH_STATES = [
  'waiting',
  'prioritized',
  'active',
  'delayed_due',
  'delayed_scheduled',
  'failed',
  'completed',
] as const;
export type QueueDepthState = (typeof QUEUE_DEPTH_STATES)[number];

/** Job counts of one queue by state, delayed split into due and scheduled, read from Redis. */
export async function queueDepth(queue: Queue, now = Date.now()): Promise<Record<QueueDepthState, number>> {
  const counts = await queue.getJobCounts(
    'waiting',
    'prioritized',
    'active',
    'delayed',
    'failed',
    'completed',
  );
  const due = await queue.getDelayedCount(now + 1);
  const delayed = counts.delayed ?? 0;
  return {
    waiting: counts.waiting ?? 0,
    prioritized: counts.prioritized ?? 0,
    active: counts.active ?? 0,
    delayed_due: Math.min(due, delayed),
    delayed_scheduled: Math.max(0, delayed - due),
    failed: counts.failed ?? 0,
    completed: counts.completed ?? 0,
  };
}

/**
 * `turnstream_queue_jobs{queue,state}` and `turnstream_queue_demand_turns{queue}` (active + waiting +
 * prioritized + delayed_due: turns that need a worker slot now; autoscalers scale on it), read at
 * scrape time. Every process that exports them reports the same fleet-wide numbers: aggregate with max.
 */
export function registerQueueDepth(registry: Registry, queues: Queue[]): void {
  const depths = new Map<string, Promise<Record<QueueDepthState, number> | null>>();
  const read = (queue: Queue) => {
    // One Redis read per queue and scrape, shared by both gauges: prom-client collects a scrape's
    // metrics together, so the second gauge asks while the first one's read is in flight. A settled
    // read is dropped at once: a later scrape never reports a queue as it was before it began.
    let p = depths.get(queue.name);
    if (!p) {
      const inFlight = queueDepth(queue).catch(() => null);
      depths.set(queue.name, inFlight);
      void inFlight.then(() => {
        if (depths.get(queue.name) === inFlight) depths.delete(queue.name);
      });
      p = inFlight;
    }
    return p;
  };
  new Gauge({
    name: 'turnstream_queue_jobs',
    help: 'Jobs in the queue by state (delayed split into due and scheduled), read from Redis at scrape time.',
    labelNames: ['queue', 'state'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const queue of queues) {
        const depth = await read(queue);
        if (!depth) continue;
        for (const state of QUEUE_DEPTH_STATES) this.set({ queue: queue.name, state }, depth[state]);
      }
    },
  });
  new Gauge({
    name: 'turnstream_queue_demand_turns',
    help: 'Turns that need a worker slot now: active + waiting + prioritized + delayed_due.',
    labelNames: ['queue'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const queue of queues) {
        const d = await read(queue);
        if (d) this.set({ queue: queue.name }, d.active + d.waiting + d.prioritized + d.delayed_due);
      }
    },
  });
}
