import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { IdleWatchdog } from '../src/watchdog.ts';

describe('IdleWatchdog', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('fires once armed for the whole timeout', () => {
    const onIdle = vi.fn();
    const watchdog = new IdleWatchdog(1000, onIdle);
    watchdog.arm();
    vi.advanceTimersByTime(999);
    expect(onIdle).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(onIdle).toHaveBeenCalledTimes(1);
    expect(watchdog.fired).toBe(true);
  });

  it('counts from the last arm: chunks arriving in time keep it quiet', () => {
    const onIdle = vi.fn();
    const watchdog = new IdleWatchdog(1000, onIdle);
    watchdog.arm();
    for (let i = 0; i < 10; i++) {
      vi.advanceTimersByTime(600);
      watchdog.disarm();
      watchdog.arm();
    }
    expect(onIdle).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1000);
    expect(onIdle).toHaveBeenCalledTimes(1);
  });

  it('never fires while disarmed (a slow consumer), and counts afresh when armed again', () => {
    const onIdle = vi.fn();
    const watchdog = new IdleWatchdog(1000, onIdle);
    watchdog.arm();
    vi.advanceTimersByTime(500);
    watchdog.disarm();
    vi.advanceTimersByTime(5000);
    expect(onIdle).not.toHaveBeenCalled();
    watchdog.arm();
    vi.advanceTimersByTime(999);
    expect(onIdle).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(onIdle).toHaveBeenCalledTimes(1);
  });

  it('keeps one timer per stream, and none once stopped', () => {
    const watchdog = new IdleWatchdog(1000, vi.fn());
    for (let i = 0; i < 50; i++) {
      watchdog.arm();
      watchdog.disarm();
    }
    watchdog.arm();
    expect(vi.getTimerCount()).toBe(1);
    watchdog.stop();
    expect(vi.getTimerCount()).toBe(0);
  });
});
