import { describe, expect, it } from 'vitest';
import { eventually, WaitTimeoutError, waitFor, withTimeout } from '../src/index.ts';

describe('waitFor', () => {
  it('resolves with the first truthy value, treating throws as "not yet"', async () => {
    let calls = 0;
    const value = await waitFor(() => {
      calls++;
      if (calls < 3) throw new Error('not ready');
      return calls < 5 ? null : { calls };
    });
    expect(value).toEqual({ calls: 5 });
  });

  it('times out with the awaited thing and the last error in the message', async () => {
    const err = await waitFor(
      () => {
        throw new Error('still booting');
      },
      { timeoutMs: 60, intervalMs: 5, message: 'the api to answer' },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WaitTimeoutError);
    expect(String((err as Error).message)).toMatch(
      /waited 60 ms for the api to answer \(last error: still booting\)/,
    );
  });

  it('names the check by its source when no message is given', async () => {
    const err = await waitFor(() => 1 > 2, { timeoutMs: 20 }).catch((e: unknown) => e);
    expect(String(err)).toContain('1 > 2');
  });
});

describe('eventually', () => {
  it('retries an assertion until it passes and returns its value', async () => {
    let n = 0;
    const got = await eventually(() => {
      n++;
      expect(n).toBeGreaterThanOrEqual(4);
      return n;
    });
    expect(got).toBe(4);
  });

  it('reports the last assertion failure on timeout', async () => {
    const err = await eventually(() => expect(1).toBe(2), { timeoutMs: 30 }).catch(
      (e: unknown) => e as Error,
    );
    expect(String(err)).toMatch(/expected 1 to be 2/);
  });
});

describe('withTimeout', () => {
  it('passes a settled value through and rejects a hung promise readably', async () => {
    expect(await withTimeout(Promise.resolve(7), 50, 'seven')).toBe(7);
    await expect(withTimeout(new Promise(() => {}), 20, 'the hung thing')).rejects.toThrow(
      'waited 20 ms for the hung thing',
    );
  });
});
