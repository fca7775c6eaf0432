import { describe, expect, it } from 'vitest';
import { compareStreamIds, isStreamId } from '../src/index.ts';

describe('compareStreamIds', () => {
  it('orders by milliseconds, then sequence, numerically', () => {
    expect(compareStreamIds('9-0', '10-0')).toBeLessThan(0);
    expect(compareStreamIds('10-0', '9-0')).toBeGreaterThan(0);
    expect(compareStreamIds('5-9', '5-10')).toBeLessThan(0);
    expect(compareStreamIds('6-0', '5-99')).toBeGreaterThan(0);
    expect(compareStreamIds('1700000000000-3', '1700000000000-3')).toBe(0);
  });

  it('handles 64-bit values beyond Number precision and bare milliseconds', () => {
    expect(compareStreamIds('1-18446744073709551615', '1-18446744073709551614')).toBeGreaterThan(0);
    expect(compareStreamIds('1-9007199254740993', '1-9007199254740992')).toBeGreaterThan(0);
    expect(compareStreamIds('7', '7-0')).toBe(0);
    expect(compareStreamIds('7', '7-1')).toBeLessThan(0);
    expect(compareStreamIds('007-01', '7-1')).toBe(0);
  });

  it('sorts like Redis does', () => {
    const ids = ['10-0', '9-5', '9-10', '100-0', '0-1', '9-0'];
    expect([...ids].sort(compareStreamIds)).toEqual(['0-1', '9-0', '9-5', '9-10', '10-0', '100-0']);
  });

  it('rejects what is not a stream id', () => {
    expect(() => compareStreamIds('abc', '1-0')).toThrow(TypeError);
    expect(() => compareStreamIds('1-0', '1-')).toThrow(TypeError);
    expect(isStreamId('1700000000000-0')).toBe(true);
    expect(isStreamId('42')).toBe(true);
    expect(isStreamId('')).toBe(false);
    expect(isStreamId('-1')).toBe(false);
    expect(isStreamId('1-2-3')).toBe(false);
    expect(isStreamId('$')).toBe(false);
  });

  it('accepts parts up to 2^64-1 and refuses larger ones (Redis would answer an error)', () => {
    expect(isStreamId('18446744073709551615-18446744073709551615')).toBe(true);
    expect(isStreamId('18446744073709551616-0')).toBe(false);
    expect(isStreamId('99999999999999999999-0')).toBe(false);
    expect(isStreamId('1-18446744073709551616')).toBe(false);
    expect(isStreamId('00000000000000000001-0')).toBe(true);
  });
});
