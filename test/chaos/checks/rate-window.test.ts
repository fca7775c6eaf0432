import { describe, expect, it } from 'vitest';
import { IN_FLIGHT_GRACE_MS, isViolation, judgeWindow, type WindowRequest } from './rate-window.ts';

// A 429's window: the gate's close ran in Redis at T and was logged at T, the retry-after passes at T + 3 s.
const T = Date.parse('2026-12-02T10:00:00.000Z');
const close = { closedAtUs: T * 1000, closedAt: T, until: T + 3_000 };

/** A send check that ran at `ms` (epoch ms) on the gate's Redis clock. */
const checkedAt = (ms: number) => ({ atUs: ms * 1000 });

function arriving(requestId: string, afterCloseMs: number, check?: { atUs: number }) {
  const r: WindowRequest = { requestId, time: new Date(T + afterCloseMs).toISOString() };
  if (check) r.gateCheck = check;
  return r;
}

const verdicts = (requests: WindowRequest[], c: Parameters<typeof judgeWindow>[0] = close) =>
  Object.fromEntries(judgeWindow(c, requests).map((j) => [j.requestId, j.verdict]));

describe('judgeWindow', () => {
  it('a request whose check ran after the close and found the gate open before the wait passed went past a closed gate, however soon it arrived', () => {
    const judged = judgeWindow(close, [
      arriving('soon', 10, checkedAt(T + 5)),
      arriving('much-later', 2_000, checkedAt(T + 1_900)),
    ]);
    expect(judged.map((j) => j.verdict)).toEqual(['passed_closed_gate', 'passed_closed_gate']);
    expect(judged.every((j) => isViolation(j.verdict))).toBe(true);
    expect(judged[0]!.lagMs).toBe(5);
  });

  it('a request whose check ran before the close was on its way, however long it took', () => {
    const judged = judgeWindow(close, [
      arriving('starved', 2_500, checkedAt(T - 300)),
      arriving('quick', 20, checkedAt(T - 10)),
    ]);
    expect(judged.map((j) => j.verdict)).toEqual(['in_flight', 'in_flight']);
    expect(judged.map((j) => j.lagMs)).toEqual([2_800, 30]);
    expect(judged.some((j) => isViolation(j.verdict))).toBe(false);
  });

  it('a check stamped at or after the wait is not the gate failing, even if the request arrived before it', () => {
    expect(verdicts([arriving('skewed', 2_990, checkedAt(T + 3_000))])).toEqual({
      skewed: 'checked_after_wait',
    });
    expect(isViolation('checked_after_wait')).toBe(false);
  });

  it("the gate could open from the 429's arrival plus the wait: a check from then is not a violation, one before it is", () => {
    // The 429 arrived 20 ms before its answer was stamped: the gate may have closed (and so opened) that early.
    const early = { ...close, earliestOpen: T + 2_980 };
    const requests = [
      arriving('woke-at-expiry', 2_990, checkedAt(T + 2_985)),
      arriving('too-soon', 2_990, checkedAt(T + 2_975)),
    ];
    expect(verdicts(requests, early)).toEqual({
      'woke-at-expiry': 'checked_after_wait',
      'too-soon': 'passed_closed_gate',
    });
    expect(verdicts(requests)).toEqual({
      'woke-at-expiry': 'passed_closed_gate',
      'too-soon': 'passed_closed_gate',
    });
  });

  it("without a check, or without the close's Redis time, the in-flight grace decides", () => {
    const requests = [arriving('near', IN_FLIGHT_GRACE_MS), arriving('far', IN_FLIGHT_GRACE_MS + 1)];
    expect(verdicts(requests)).toEqual({ near: 'within_grace', far: 'past_grace' });
    const checked = [arriving('checked', 2_000, checkedAt(T - 10))];
    expect(verdicts(checked, { closedAt: T, until: T + 3_000 })).toEqual({ checked: 'past_grace' });
    expect(isViolation('past_grace')).toBe(true);
    expect(isViolation('within_grace')).toBe(false);
  });

  it('judges requests that arrived after the 429, before the close was logged, by their gate check alone', () => {
    // The 429 arrived 200 ms before the close was logged; the close ran in Redis at T - 150.
    const early = { ...close, closedAtUs: (T - 150) * 1000, limitedAt: T - 200, earliestOpen: T + 2_800 };
    const judged = judgeWindow(early, [
      arriving('past-closed', -100, checkedAt(T - 120)),
      arriving('on-its-way', -100, checkedAt(T - 150)), // the same microsecond as the close: before it
      arriving('no-header', -100),
      arriving('with-the-429', -200, checkedAt(T - 210)),
      arriving('before-the-429', -250, checkedAt(T - 260)),
    ]);
    expect(Object.fromEntries(judged.map((j) => [j.requestId, j.verdict]))).toEqual({
      'past-closed': 'passed_closed_gate',
      'on-its-way': 'in_flight',
    });
    expect(judged.map((j) => j.afterCloseMs)).toEqual([-100, -100]);
    expect(judged.map((j) => j.lagMs)).toEqual([20, 50]);
  });

  it('judges only requests that arrived after the close was logged and before the wait passed', () => {
    const outside = [
      arriving('before', -1, checkedAt(T - 2)),
      arriving('at-close', 0, checkedAt(T)),
      arriving('at-until', 3_000, checkedAt(T + 1)),
      arriving('after', 4_000),
    ];
    expect(judgeWindow(close, outside)).toEqual([]);
  });
});
