/**
 * `pnpm bench`: starts the real processes (API, workers, simulator) against Postgres and a private
 * Redis, runs every scenario with its baselines in the same run, and writes
 * test/bench/results/<date>.json and .md. Flags: --quick (small counts, about a minute), --smoke,
 * --only=first-chunk,saturation,held,fanout,marker,resume, --cpu-prof=<dir> (V8 CPU profiles of the API and
 * workers, one folder per scenario), --held=500,2000 (held stream counts, on one worker unless
 * --held-workers=1,2 names the worker counts: each count runs on each),
 * --saturation-workers=1, --first-chunk=1,10 (conversation counts of first-chunk), --first-chunk-ms=<ms>
 * (how long each of its loops measures), --first-chunk-history=<n> (each first-chunk turn a follow-up in a
 * conversation of its own holding n completed exchanges, seeded before and not measured; the direct
 * baseline sends the same n exchanges before its message; default 0: the first message of a fresh
 * conversation), --tag=<name> (file name suffix), --no-write, --echo (app logs),
 * --runtime=image|source (the image's bundled program, the default, or the apps' TypeScript under tsx;
 * --cpu-prof runs from source unless --runtime=image is given),
 * --worker-node-arg=<flag> (repeatable: a node flag of the workers, e.g. --heapsnapshot-signal=SIGUSR2;
 * --trace-gc-nvp adds the workers' GC pauses, promoted bytes and bytes allocated per token to the held
 * runs; `--import=<path of lib/alloc-sampler.mjs>` with ALLOC_PROFILE_DIR set writes where each worker
 * allocates, summarised by alloc-summary.ts).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type BenchContext, PROFILES, type Profile } from './lib/context.ts';
import { Driver } from './lib/driver.ts';
import { historyFlag } from './lib/history.ts';
import { loadAverage, machineFacts } from './lib/machine.ts';
import { RUNTIMES, type RuntimeName } from './lib/runtime.ts';
import { BenchStack } from './lib/stack.ts';
import { type BenchResults, evaluateTargets, renderMarkdown } from './report.ts';
import { fanout, resume } from './scenarios/delivery.ts';
import { firstChunk } from './scenarios/first-chunk.ts';
import { held } from './scenarios/held.ts';
import { publishMarker } from './scenarios/publish-marker.ts';
import { saturation } from './scenarios/saturation.ts';

export const SCENARIOS = ['first-chunk', 'saturation', 'held', 'fanout', 'marker', 'resume'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface BenchOptions {
  profile: Profile['name'];
  /** Held-stream counts (overrides the profile's; on one worker only unless `heldWorkers` says otherwise). */
  held?: number[];
  /** Worker counts the held-stream counts run on (1 and/or 2; default: the profile's). */
  heldWorkers?: number[];
  /** Worker counts of the saturation scenario (overrides the profile's). */
  saturationWorkers?: number[];
  /** Conversation counts of the first-chunk scenario (overrides the profile's). */
  firstChunkConcurrency?: number[];
  /** How long each first-chunk loop measures, ms (overrides the profile's). */
  firstChunkMs?: number;
  /** Completed exchanges each first-chunk conversation holds before its measured turn (default 0). */
  firstChunkHistory?: number;
  only?: ScenarioName[];
  cpuProfileDir?: string;
  /** Folder for the results files; undefined = do not write. */
  outDir?: string;
  tag?: string;
  echo?: boolean;
  workerNodeArgs?: string[];
  /** The image's bundled program (default) or the apps' TypeScript under tsx (`--runtime=source`). */
  runtime?: RuntimeName;
  log?: (msg: string) => void;
}

/** Stops whatever a run started (used by the signal handlers). */
let cleanup: (() => Promise<void>) | undefined;

export const RESULTS_DIR = new URL('./results/', import.meta.url).pathname;

/** The newest committed `*-baseline.json`: the run the "today's" targets refer to. */
function findReference(dir: string): { name: string; results: BenchResults } | undefined {
  if (!existsSync(dir)) return undefined;
  const name = readdirSync(dir)
    .filter((f) => f.endsWith('-baseline.json'))
    .sort()
    .at(-1);
  if (!name) return undefined;
  return { name, results: JSON.parse(readFileSync(join(dir, name), 'utf8')) as BenchResults };
}

export async function runBench(opts: BenchOptions): Promise<{ results: BenchResults; files: string[] }> {
  const log = opts.log ?? ((m: string) => console.log(`[bench] ${m}`));
  const base = PROFILES[opts.profile];
  const profile: Profile = {
    ...base,
    held: heldPlan(base.held, opts),
    saturation: opts.saturationWorkers
      ? { ...base.saturation, workers: opts.saturationWorkers }
      : base.saturation,
    firstChunk: {
      concurrency: opts.firstChunkConcurrency ?? base.firstChunk.concurrency,
      durationMs: opts.firstChunkMs ?? base.firstChunk.durationMs,
      history: opts.firstChunkHistory ?? base.firstChunk.history ?? 0,
    },
  };
  const only = new Set(opts.only ?? SCENARIOS);
  const started = Date.now();
  const loadSamples = [loadAverage()];
  const loadTimer = setInterval(() => loadSamples.push(loadAverage()), 5000);
  const stack = new BenchStack({
    cpuProfileDir: opts.cpuProfileDir,
    echo: opts.echo,
    workerNodeArgs: opts.workerNodeArgs,
    // Profiles name the functions' files: from source they are the apps' and packages' own (the
    // bundle's chunks are in a folder removed at the end), unless the image is asked for.
    runtime: opts.runtime ?? (opts.cpuProfileDir ? 'source' : undefined),
  });
  const drivers: Driver[] = [];
  const scenarios: BenchResults['scenarios'] = {};
  const errors: string[] = [];
  let facts: ReturnType<typeof machineFacts> | undefined;
  cleanup = async () => {
    await Promise.allSettled(drivers.map((d) => d.stop()));
    await stack.stop();
  };
  try {
    await stack.start();
    facts = machineFacts({ postgres: stack.postgresVersion, redis: stack.redisVersion });
    log(
      `stack up (${stack.runtimeName}): api ${stack.apiUrl}, redis ${stack.redis.url}, database ${stack.tdb.name}`,
    );
    const client = new Driver('turn-client', 'turn-client.ts');
    const direct = new Driver('direct-client', 'direct-client.ts');
    drivers.push(client, direct);
    await client.call('init', { apiUrl: stack.apiUrl, apiKey: stack.apiKey });
    await direct.call('init', { simUrl: stack.simUrl });
    const ctx: BenchContext = { profile, stack, client, direct, log };
    const steps: Array<[ScenarioName, () => Promise<void>]> = [
      [
        'first-chunk',
        async () => {
          scenarios.firstChunk = await firstChunk(ctx);
        },
      ],
      [
        'saturation',
        async () => {
          scenarios.saturation = await saturation(ctx);
        },
      ],
      [
        'held',
        async () => {
          scenarios.held = await held(ctx);
        },
      ],
      [
        'fanout',
        async () => {
          scenarios.fanout = await fanout(ctx);
        },
      ],
      [
        'marker',
        async () => {
          scenarios.publishMarker = await publishMarker(ctx);
        },
      ],
      [
        'resume',
        async () => {
          scenarios.resume = await resume(ctx);
        },
      ],
    ];
    for (const [name, step] of steps) {
      if (!only.has(name)) continue;
      log(`scenario ${name} (load average ${loadAverage()})`);
      if (opts.cpuProfileDir) {
        stack.profileAs(name);
        await stack.restartApi();
        await client.call('init', { apiUrl: stack.apiUrl, apiKey: stack.apiKey });
      }
      try {
        await step();
      } catch (err) {
        const text = err instanceof Error ? (err.stack ?? err.message) : String(err);
        errors.push(`${name}: ${text}`);
        log(`scenario ${name} failed: ${text}`);
      }
    }
  } finally {
    clearInterval(loadTimer);
    await cleanup();
    cleanup = undefined;
  }
  loadSamples.push(loadAverage());
  const date = new Date(started).toISOString().slice(0, 10);
  const results: BenchResults = {
    date,
    profile: profile.name,
    runtime: stack.runtimeName,
    machine: facts!,
    loadAverage: { start: loadSamples[0]!, end: loadSamples.at(-1)!, samples: loadSamples },
    durationSec: Math.round((Date.now() - started) / 1000),
    scenarios,
    targets: [],
    ...(errors.length ? { errors } : {}),
  };
  const reference = opts.outDir ? findReference(opts.outDir) : findReference(RESULTS_DIR);
  if (reference) results.reference = reference.name;
  results.targets = evaluateTargets(results, reference?.results);
  const files: string[] = [];
  if (opts.outDir) {
    mkdirSync(opts.outDir, { recursive: true });
    const base = join(opts.outDir, `${date}${opts.tag ? `-${opts.tag}` : ''}`);
    writeFileSync(`${base}.json`, `${JSON.stringify(results, null, 2)}\n`);
    writeFileSync(`${base}.md`, `${renderMarkdown(results)}\n`);
    files.push(`${base}.json`, `${base}.md`);
  }
  if (errors.length)
    throw Object.assign(new Error(`scenarios failed:\n${errors.join('\n')}`), { results, files });
  return { results, files };
}

/** The held-stream plan: the profile's, or the counts given, on the worker counts given (one by default). */
function heldPlan(base: Profile['held'], opts: BenchOptions): Profile['held'] {
  if (!opts.held && !opts.heldWorkers) return base;
  const workers = opts.heldWorkers ?? [1];
  const one = opts.held ?? base.oneWorker;
  const two = opts.held ?? base.twoWorkers;
  return { ...base, oneWorker: workers.includes(1) ? one : [], twoWorkers: workers.includes(2) ? two : [] };
}

function parseArgs(argv: string[]): BenchOptions {
  const opts: BenchOptions = { profile: 'full', outDir: RESULTS_DIR };
  for (const arg of argv) {
    const eq = arg.indexOf('=');
    const key = eq < 0 ? arg : arg.slice(0, eq);
    const value = eq < 0 ? undefined : arg.slice(eq + 1);
    if (key === '--quick') opts.profile = 'quick';
    else if (key === '--smoke') opts.profile = 'smoke';
    else if (key === '--only') opts.only = value!.split(',') as ScenarioName[];
    else if (key === '--cpu-prof') opts.cpuProfileDir = resolve(value ?? 'bench-profiles');
    else if (key === '--tag') opts.tag = value;
    else if (key === '--held') opts.held = value!.split(',').map(Number);
    else if (key === '--held-workers') opts.heldWorkers = value!.split(',').map(Number);
    else if (key === '--saturation-workers') opts.saturationWorkers = value!.split(',').map(Number);
    else if (key === '--first-chunk') opts.firstChunkConcurrency = value!.split(',').map(Number);
    else if (key === '--first-chunk-ms') opts.firstChunkMs = Number(value);
    else if (key === '--first-chunk-history') opts.firstChunkHistory = historyFlag(value);
    else if (key === '--no-write') opts.outDir = undefined;
    else if (key === '--echo') opts.echo = true;
    else if (key === '--worker-node-arg') opts.workerNodeArgs = [...(opts.workerNodeArgs ?? []), value!];
    else if (key === '--runtime') {
      if (!RUNTIMES.includes(value as RuntimeName)) throw new Error(`--runtime: ${RUNTIMES.join(' or ')}`);
      opts.runtime = value as RuntimeName;
    } else if (key !== '--') throw new Error(`unknown flag ${arg}`);
  }
  for (const name of opts.only ?? []) {
    if (!SCENARIOS.includes(name)) throw new Error(`unknown scenario ${name} (${SCENARIOS.join(', ')})`);
  }
  if (opts.profile !== 'full' && opts.outDir && !opts.tag) opts.tag = opts.profile;
  return opts;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const opts = parseArgs(process.argv.slice(2));
  let stopping = false;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      if (stopping) process.exit(130);
      stopping = true;
      console.error(`[bench] ${sig}: stopping every process, dropping the database and the private Redis`);
      void (cleanup?.() ?? Promise.resolve()).finally(() => process.exit(130));
    });
  }
  runBench(opts).then(
    ({ results, files }) => {
      console.log(renderMarkdown(results));
      for (const f of files) console.log(`[bench] wrote ${f}`);
    },
    (err: Error & { files?: string[] }) => {
      console.error(`[bench] ${err.message}`);
      for (const f of err.files ?? []) console.log(`[bench] wrote ${f}`);
      process.exit(1);
    },
  );
}
