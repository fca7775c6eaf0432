import { onTestFailed } from 'vitest';

/** The environment variable that replays a seeded test: `TEST_SEED=1234 pnpm test:only <file>`. */
export const SEED_ENV = 'TEST_SEED';

/** A seeded source of randomness; every helper draws from the same sequence. */
export interface SeededRandom {
  readonly seed: number;
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [min, max] (inclusive). */
  int(min: number, max: number): number;
  /** True with probability `p`. */
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
  shuffle<T>(items: readonly T[]): T[];
  /** `seed=<n> (replay: TEST_SEED=<n>)`, for failure messages and logs. */
  readonly replay: string;
}

/** mulberry32: a tiny, fast, seedable PRNG; floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function seededRandom(seed: number): SeededRandom {
  const next = mulberry32(seed);
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1));
  return {
    seed,
    next,
    int,
    chance: (p) => next() < p,
    pick: (items) => {
      if (items.length === 0) throw new Error('pick from an empty list');
      return items[int(0, items.length - 1)]!;
    },
    shuffle: (items) => {
      const out = [...items];
      for (let i = out.length - 1; i > 0; i--) {
        const j = int(0, i);
        [out[i], out[j]] = [out[j]!, out[i]!];
      }
      return out;
    },
    replay: `seed=${seed} (replay: ${SEED_ENV}=${seed})`,
  };
}

/**
 * The seed of a randomized test: `env.TEST_SEED` when set (a replay), else `fallback` (a fixed seed
 * keeps CI deterministic) or, without one, a fresh random seed.
 */
export function chooseSeed(env: Record<string, string | undefined>, fallback?: number): number {
  const raw = env[SEED_ENV];
  if (raw !== undefined && raw !== '') {
    const seed = Number(raw);
    if (!Number.isInteger(seed)) throw new Error(`${SEED_ENV} must be an integer, got ${raw}`);
    return seed >>> 0;
  }
  return fallback ?? Math.floor(Math.random() * 2 ** 32);
}

/**
 * A seeded random source for the current test: if the test fails, its seed and how to replay it are
 * printed. Outside a running test (a hook, a script) the seed is printed at once instead.
 */
export function testRandom(seed: number, label = 'seeded test'): SeededRandom {
  const rnd = seededRandom(seed);
  try {
    onTestFailed(() => {
      console.error(`[${label}] failed with ${rnd.replay}`);
    });
  } catch {
    console.error(`[${label}] ${rnd.replay}`);
  }
  return rnd;
}
