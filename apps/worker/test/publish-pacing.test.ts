import { describe, expect, it } from 'vitest';
import { DEFAULT_PUBLISH_PACING, pacedWindowMs } from '../src/publish-pacing.ts';

const pacing = { coalesceWindowMs: 30, coalesceWindowMaxMs: 250, publishBudgetPerSecond: 5000 };

describe('pacedWindowMs', () => {
  it('keeps the base window while the streams held stay within the budget', () => {
    expect(pacedWindowMs(0, pacing)).toBe(30);
    expect(pacedWindowMs(1, pacing)).toBe(30);
    // 150 streams publishing every 30 ms: exactly 5,000 publishes a second.
    expect(pacedWindowMs(150, pacing)).toBe(30);
  });

  it('widens the window so the streams together publish about the budget a second', () => {
    expect(pacedWindowMs(151, pacing)).toBe(31);
    expect(pacedWindowMs(500, pacing)).toBe(100);
    expect(pacedWindowMs(1000, pacing)).toBe(200);
  });

  it('never goes past the widest window, however many streams', () => {
    expect(pacedWindowMs(2000, pacing)).toBe(250);
    expect(pacedWindowMs(1_000_000, pacing)).toBe(250);
  });

  it('keeps the window fixed with no budget, and never below the base window', () => {
    expect(pacedWindowMs(10_000, { ...pacing, publishBudgetPerSecond: 0 })).toBe(30);
    expect(pacedWindowMs(10_000, { ...pacing, coalesceWindowMaxMs: 10 })).toBe(30);
  });

  it('defaults to a 30 ms window that widens past 150 streams, up to 250 ms', () => {
    expect(DEFAULT_PUBLISH_PACING).toEqual(pacing);
  });
});
