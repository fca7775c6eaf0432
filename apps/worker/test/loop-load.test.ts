import { describe, expect, it, vi } from 'vitest';
import { eventLoopReader, LOOP_LOAD_SAMPLE_MS, LoopLoad, type LoopReading } from '../src/loop-load.ts';

/** Keeps the loop busy for `ms` (a reading of a saturated loop; not a wait). */
function spin(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy
  }
}

describe('eventLoopReader', () => {
  it("reads the share of the time since the last reading the loop was busy (Node's accounting)", async () => {
    const read = eventLoopReader();
    spin(200);
    const busy = read();
    expect(busy.utilization).toBeGreaterThan(0.9);
    expect(busy.elapsedMs).toBeGreaterThanOrEqual(200);
    // Waiting on a timer the loop is idle (the wait is what is measured, not a synchronisation).
    await new Promise<void>((resolve) => setTimeout(resolve, 100));
    expect(read().utilization).toBeLessThan(0.5);
  });
});

describe('LoopLoad', () => {
  it('follows its readings, smoothed: idle at first, near 1 after seconds of a saturated loop', () => {
    const readings: LoopReading[] = [];
    const load = new LoopLoad(() => readings.shift() ?? { utilization: 0, elapsedMs: 0 });
    expect(load.level).toBe(0);
    for (let i = 0; i < 8; i++) readings.push({ utilization: 1, elapsedMs: 500 });
    for (let i = 0; i < 8; i++) load.sample();
    expect(load.smoothed).toBeGreaterThan(0.97);
    expect(load.level).toBeGreaterThan(0.95);
    // An empty reading (no time passed) changes nothing.
    load.sample();
    expect(load.smoothed).toBeGreaterThan(0.97);
  });

  it('samples on its own timer once started, and stops', () => {
    vi.useFakeTimers();
    try {
      let reads = 0;
      const load = new LoopLoad(() => {
        reads++;
        return { utilization: 1, elapsedMs: 500 };
      }).start();
      vi.advanceTimersByTime(LOOP_LOAD_SAMPLE_MS * 3);
      expect(reads).toBe(3);
      expect(load.level).toBeGreaterThan(0);
      load.stop();
      vi.advanceTimersByTime(LOOP_LOAD_SAMPLE_MS * 3);
      expect(reads).toBe(3);
    } finally {
      vi.useRealTimers();
    }
  });
});
