import type { Driver } from './driver.ts';
import type { BenchStack } from './stack.ts';

/** Sizes of one benchmark run. `full` is what `pnpm bench` runs; `quick` checks the harness in about a minute. */
export interface Profile {
  name: 'full' | 'quick' | 'smoke';
  warmupMs: number;
  /** `history`: completed exchanges in each conversation before its measured turn (0: a fresh one). */
  firstChunk: { concurrency: number[]; durationMs: number; history?: number };
  held: { oneWorker: number[]; twoWorkers: number[]; words: number; delayMs: number; spreadMs: number };
  saturation: { concurrency: number; durationMs: number; noopJobs: number; workers: number[] };
  fanout: { conversations: number; clientsPerConversation: number; eventsPerConversation: number };
  resume: { missed: number[]; repeats: number };
}

export const PROFILES: Record<Profile['name'], Profile> = {
  full: {
    name: 'full',
    // Long enough for V8 to finish compiling the hot paths of a fresh API and worker (with 3 s it was
    // still compiling during the measured loop: about 12% of a turn's CPU, 2026-12-01-turn-cpu.md).
    warmupMs: 10_000,
    firstChunk: { concurrency: [1, 10, 50], durationMs: 8000 },
    held: { oneWorker: [200, 500, 1000, 2000], twoWorkers: [500], words: 200, delayMs: 50, spreadMs: 3000 },
    saturation: { concurrency: 50, durationMs: 12_000, noopJobs: 5000, workers: [1, 2] },
    fanout: { conversations: 50, clientsPerConversation: 4, eventsPerConversation: 400 },
    resume: { missed: [100, 1000, 5000], repeats: 5 },
  },
  quick: {
    name: 'quick',
    warmupMs: 1000,
    firstChunk: { concurrency: [1, 10], durationMs: 2000 },
    held: { oneWorker: [50], twoWorkers: [50], words: 40, delayMs: 50, spreadMs: 1000 },
    saturation: { concurrency: 10, durationMs: 2000, noopJobs: 500, workers: [1, 2] },
    fanout: { conversations: 5, clientsPerConversation: 2, eventsPerConversation: 100 },
    resume: { missed: [100], repeats: 2 },
  },
  smoke: {
    name: 'smoke',
    warmupMs: 200,
    firstChunk: { concurrency: [1], durationMs: 500 },
    held: { oneWorker: [5], twoWorkers: [], words: 5, delayMs: 20, spreadMs: 100 },
    saturation: { concurrency: 2, durationMs: 500, noopJobs: 50, workers: [1] },
    fanout: { conversations: 2, clientsPerConversation: 1, eventsPerConversation: 20 },
    resume: { missed: [10], repeats: 1 },
  },
};

export interface BenchContext {
  profile: Profile;
  stack: BenchStack;
  client: Driver;
  direct: Driver;
  log: (msg: string) => void;
}
