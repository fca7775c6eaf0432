import { describe, expect, it } from 'vitest';
import {
  countWindowMs,
  DEFAULT_PUBLISH_PACING,
  IDLE_LOOP_LOAD,
  LOAD_DEAD_BAND,
  type LoopLoadState,
  nextLoopLoad,
  type PublishPacing,
  pacedWindowMs,
} from '../src/publish-pacing.ts';

const pacing: PublishPacing = {
  coalesceWindowMs: 30,
  coalesceWindowMaxMs: 250,
  publishBudgetPerSecond: 5000,
  pacingMode: 'load',
  pacingLoadFrom: 0.9,
  pacingLoadFull: 0.98,
};
const countOnly: PublishPacing = { ...pacing, pacingMode: 'count' };

describe('countWindowMs', () => {
  it('keeps the base window while the streams held stay within the budget', () => {
    expect(countWindowMs(0, pacing)).toBe(30);
    expect(countWindowMs(1, pacing)).toBe(30);
    // 150 streams publishing every 30 ms: exactly 5,000 publishes a second.
    expect(countWindowMs(150, pacing)).toBe(30);
  });

  it('widens the window so the streams together publish about the budget a second', () => {
    expect(countWindowMs(151, pacing)).toBe(31);
    expect(countWindowMs(500, pacing)).toBe(100);
    expect(countWindowMs(1000, pacing)).toBe(200);
  });

  it('never goes past the widest window, however many streams', () => {
    expect(countWindowMs(2000, pacing)).toBe(250);
    expect(countWindowMs(1_000_000, pacing)).toBe(250);
  });

  it('keeps the window fixed with no budget, and never below the base window', () => {
    expect(countWindowMs(10_000, { ...pacing, publishBudgetPerSecond: 0 })).toBe(30);
    expect(countWindowMs(10_000, { ...pacing, coalesceWindowMaxMs: 10 })).toBe(30);
  });
});

describe('pacedWindowMs', () => {
  it('keeps the base window however many streams while the loop has time to spare', () => {
    for (const load of [0, 0.5, 0.85, 0.9]) {
      expect(pacedWindowMs(500, pacing, load)).toBe(30);
      expect(pacedWindowMs(2000, pacing, load)).toBe(30);
    }
  });

  it("applies the count's window in full once the loop is saturated", () => {
    for (const load of [0.98, 1]) {
      expect(pacedWindowMs(500, pacing, load)).toBe(100);
      expect(pacedWindowMs(2000, pacing, load)).toBe(250);
    }
  });

  it("applies the count's widening in proportion to the load in between", () => {
    expect(pacedWindowMs(500, pacing, 0.94)).toBe(65);
    expect(pacedWindowMs(2000, pacing, 0.94)).toBe(140);
    expect(pacedWindowMs(500, pacing, 0.92)).toBe(48);
  });

  it("never goes past the count's window, nor below the base window", () => {
    for (const load of [0, 0.3, 0.86, 0.91, 0.94, 0.97, 1]) {
      for (const streams of [0, 100, 150, 151, 500, 1000, 5000]) {
        const w = pacedWindowMs(streams, pacing, load);
        expect(w).toBeGreaterThanOrEqual(30);
        expect(w).toBeLessThanOrEqual(countWindowMs(streams, pacing));
      }
    }
    // Few streams: the base window, however busy.
    expect(pacedWindowMs(100, pacing, 1)).toBe(30);
  });

  it("in count mode, applies the count's window whatever the load (the rule without load)", () => {
    expect(pacedWindowMs(500, countOnly, 0)).toBe(100);
    expect(pacedWindowMs(2000, countOnly, 0.2)).toBe(250);
    expect(pacedWindowMs(100, countOnly, 1)).toBe(30);
  });

  it('switches at once at the first threshold when the two coincide', () => {
    const step = { ...pacing, pacingLoadFrom: 0.9, pacingLoadFull: 0.9 };
    expect(pacedWindowMs(500, step, 0.89)).toBe(30);
    expect(pacedWindowMs(500, step, 0.9)).toBe(100);
  });

  it('defaults: a 30 ms window widened past 150 streams up to 250 ms, by the count alone', () => {
    expect(DEFAULT_PUBLISH_PACING).toEqual({ ...pacing, pacingMode: 'count' });
    expect(pacedWindowMs(500, DEFAULT_PUBLISH_PACING, 0)).toBe(100);
  });
});

/** The load after `seconds` of half-second readings at `utilization` each. */
function run(state: LoopLoadState, utilization: number | ((i: number) => number), seconds: number) {
  let s = state;
  for (let i = 0; i < seconds * 2; i++) {
    s = nextLoopLoad(s, typeof utilization === 'number' ? utilization : utilization(i), 500);
  }
  return s;
}

describe('nextLoopLoad', () => {
  it('follows a loop that becomes saturated: within a second when busy, about three from idle', () => {
    const busy = run(IDLE_LOOP_LOAD, 0.8, 20);
    expect(pacedWindowMs(500, pacing, busy.level)).toBe(30);
    expect(pacedWindowMs(500, pacing, run(busy, 1, 1).level)).toBeGreaterThanOrEqual(45);
    expect(pacedWindowMs(500, pacing, run(busy, 1, 2).level)).toBeGreaterThanOrEqual(75);
    expect(pacedWindowMs(500, pacing, run(busy, 1, 3).level)).toBeGreaterThanOrEqual(90);
    expect(pacedWindowMs(500, pacing, run(IDLE_LOOP_LOAD, 1, 1).level)).toBe(30);
    expect(pacedWindowMs(500, pacing, run(IDLE_LOOP_LOAD, 1, 3).level)).toBeGreaterThanOrEqual(60);
    expect(pacedWindowMs(500, pacing, run(IDLE_LOOP_LOAD, 1, 4).level)).toBeGreaterThanOrEqual(90);
  });

  it('falls back more slowly than it rose: a loop that just caught up keeps pacing a few seconds', () => {
    const saturated = run(IDLE_LOOP_LOAD, 1, 10);
    // Caught up to 0.8: still pacing 2 s later, back to the base window within 10 s.
    expect(pacedWindowMs(500, pacing, run(saturated, 0.8, 2).level)).toBeGreaterThan(30);
    expect(pacedWindowMs(500, pacing, run(saturated, 0.8, 10).level)).toBe(30);
    // Caught up to 0.5: pacing half a second longer, then the base window.
    expect(pacedWindowMs(500, pacing, run(saturated, 0.5, 0.5).level)).toBeGreaterThan(30);
    const settled = run(saturated, 0.5, 15);
    expect(pacedWindowMs(500, pacing, settled.level)).toBe(30);
    expect(Math.abs(settled.level - 0.5)).toBeLessThanOrEqual(LOAD_DEAD_BAND + 0.03);
  });

  it('holds the level while the load wobbles within the dead band (no swing of the window)', () => {
    // A loop between 0.88 and 0.94 busy, reading by reading.
    const wobble = (i: number) => (i % 2 ? 0.94 : 0.88);
    let s = run(IDLE_LOOP_LOAD, wobble, 20);
    const windows = new Set<number>();
    for (let i = 0; i < 200; i++) {
      s = nextLoopLoad(s, wobble(i), 500);
      windows.add(pacedWindowMs(500, pacing, s.level));
    }
    expect(windows.size).toBe(1);
  });

  /** The windows of the last 30 s of 2 min of a worker whose loop is `loadAt(window)` busy. */
  function closedLoop(loadAt: (windowMs: number) => number): number[] {
    let s = IDLE_LOOP_LOAD;
    const windows: number[] = [];
    for (let i = 0; i < 240; i++) {
      s = nextLoopLoad(s, loadAt(pacedWindowMs(500, pacing, s.level)), 500);
      windows.push(pacedWindowMs(500, pacing, s.level));
    }
    return windows.slice(-60);
  }

  it('settles rather than oscillating when pacing itself lowers the load', () => {
    // A saturated loop at 500 streams publishing every delta, 0.05 less busy at the count's window
    // (about what the held bench's worker CPU says): one window, between the base and the count's.
    const settled = closedLoop((w) => 1 - (0.05 * (w - 30)) / 70);
    expect(new Set(settled).size).toBe(1);
    expect(settled[0]).toBeGreaterThan(30);
    // Four times as steep (0.2 less busy at the count's window): it may swing, by a little more than
    // one dead band's worth of window (18 ms at 500 streams), never from one end to the other.
    const steep = closedLoop((w) => 1 - (0.2 * (w - 30)) / 70);
    const band = (LOAD_DEAD_BAND / (pacing.pacingLoadFull - pacing.pacingLoadFrom)) * 70;
    expect(Math.max(...steep) - Math.min(...steep)).toBeLessThanOrEqual(band * 1.5);
    expect(Math.min(...steep)).toBeGreaterThan(30);
    expect(Math.max(...steep)).toBeLessThan(100);
  });

  it('ignores empty and broken readings and keeps utilization within 0-1', () => {
    const s = { smoothed: 0.5, level: 0.5 };
    expect(nextLoopLoad(s, 1, 0)).toEqual(s);
    expect(nextLoopLoad(s, Number.NaN, 500)).toEqual(s);
    expect(run(IDLE_LOOP_LOAD, 3, 30).smoothed).toBeLessThanOrEqual(1);
    expect(run(s, -1, 30).level).toBeGreaterThanOrEqual(0);
  });
});
