import { describe, expect, it } from 'vitest';
import { chooseSeed, SEED_ENV, seededRandom } from '../src/index.ts';

describe('seededRandom', () => {
  it('is a pure function of its seed', () => {
    const a = seededRandom(42);
    const b = seededRandom(42);
    const c = seededRandom(43);
    const seqA = Array.from({ length: 20 }, () => a.next());
    expect(Array.from({ length: 20 }, () => b.next())).toEqual(seqA);
    expect(Array.from({ length: 20 }, () => c.next())).not.toEqual(seqA);
    expect(seqA.every((x) => x >= 0 && x < 1)).toBe(true);
  });

  it('draws integers in bounds, picks, shuffles (a permutation) and says how to replay', () => {
    const r = seededRandom(7);
    const ints = Array.from({ length: 500 }, () => r.int(3, 5));
    expect(new Set(ints)).toEqual(new Set([3, 4, 5]));
    expect(['x', 'y']).toContain(r.pick(['x', 'y']));
    expect(() => r.pick([])).toThrow('empty');
    const items = Array.from({ length: 30 }, (_, i) => i);
    const shuffled = r.shuffle(items);
    expect(shuffled).not.toEqual(items);
    expect([...shuffled].sort((x, y) => x - y)).toEqual(items);
    expect(r.replay).toBe(`seed=7 (replay: ${SEED_ENV}=7)`);
  });
});

describe('chooseSeed', () => {
  it('replays the env seed, else uses the fallback, else a fresh one', () => {
    expect(chooseSeed({ [SEED_ENV]: '1234' }, 9)).toBe(1234);
    expect(chooseSeed({}, 9)).toBe(9);
    expect(Number.isInteger(chooseSeed({}))).toBe(true);
    expect(() => chooseSeed({ [SEED_ENV]: 'abc' })).toThrow(SEED_ENV);
  });
});
