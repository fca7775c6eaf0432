/**
 * Where the workers' CPU goes per turn under saturation, by thread (the JavaScript main thread, V8's
 * helper threads: compiler and GC, libuv's pool, the rest), over consecutive windows of the same run,
 * so warm-up shows as a per-turn cost that falls from one window to the next. Usage:
 * `node --import tsx test/bench/worker-threads.ts [--workers=1] [--concurrency=50] [--windows=3]
 * [--window=8000] [--warmup=3000]`.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { numberArg } from './lib/args.ts';
import { summarizeGc } from './lib/gc.ts';
import { CLK_TCK } from './lib/proc.ts';
import { withBenchStack } from './lib/script.ts';
import { turnstreamLoop } from './scenarios/turn-runs.ts';

const workers = numberArg('workers', 1);
const concurrency = numberArg('concurrency', 50);
const windows = numberArg('windows', 3);
const windowMs = numberArg('window', 8000);
const warmupMs = numberArg('warmup', 3000);
/** `--perf=<file>`: a `perf trace -s` syscall summary of the workers during the second window. */
const perfOut = process.argv.find((x) => x.startsWith('--perf='))?.slice(7);

/** Thread class of a thread other than the main one, by its name (`comm`) when Node names it. */
function threadClass(comm: string): string {
  if (comm.startsWith('V8 ')) return 'v8-helpers';
  if (comm.startsWith('libuv-worker')) return 'libuv-pool';
  return 'other';
}

/** User and system CPU seconds of one thread. */
function taskCpuSeconds(pid: number, tid: string): { user: number; sys: number } {
  const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(fields[11]) / CLK_TCK, sys: Number(fields[12]) / CLK_TCK };
}

/** CPU seconds per thread class of one process (all its threads). */
function threadCpu(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const comm = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      const cls = tid === String(pid) ? 'main' : threadClass(comm);
      const cpu = taskCpuSeconds(pid, tid);
      out[cls] = (out[cls] ?? 0) + cpu.user + cpu.sys;
      out.kernel = (out.kernel ?? 0) + cpu.sys;
    } catch {
      // the thread ended
    }
  }
  return out;
}

/** Read + write syscalls and context switches (all threads) of one process. */
function sysCounts(pid: number): { sys: number; ctx: number } {
  try {
    const io = readFileSync(`/proc/${pid}/io`, 'utf8');
    const sys = Number(/syscr: (\d+)/.exec(io)?.[1]) + Number(/syscw: (\d+)/.exec(io)?.[1]);
    let ctx = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const st = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      for (const m of st.matchAll(/ctxt_switches:\s+(\d+)/g)) ctx += Number(m[1]);
    }
    return { sys, ctx };
  } catch {
    return { sys: 0, ctx: 0 };
  }
}

const sumSys = (pids: number[]) => {
  const out = { sys: 0, ctx: 0 };
  for (const pid of pids) {
    const c = sysCounts(pid);
    out.sys += c.sys;
    out.ctx += c.ctx;
  }
  return out;
};

const sumClasses = (pids: number[]) => {
  const out: Record<string, number> = {};
  for (const pid of pids) for (const [k, v] of Object.entries(threadCpu(pid))) out[k] = (out[k] ?? 0) + v;
  return out;
};

/** `--gc`: the workers trace their collections; each window reports them per 100 turns. */
const traceGc = process.argv.includes('--gc');
const stackOptions = traceGc ? { workerNodeArgs: ['--trace-gc-nvp'] } : {};
await withBenchStack({ workers, profile: { warmupMs }, stack: stackOptions }, async (ctx) => {
  const { stack } = ctx;
  await turnstreamLoop(ctx, { concurrency, durationMs: warmupMs, words: 40, delayMs: 0 });
  const pids = stack.workers.map((w) => w.pid);
  console.log(
    'window\tturns/s\tworker ms/turn: main thread / V8 helpers / libuv pool / other threads = total (of which kernel)\tapi / pg / redis ms/turn\t' +
      'syscalls (read+write) per turn: workers / api / redis / pg\tcontext switches per turn: same',
  );
  const groups = async () => [pids, [stack.api.pid], [stack.redisPid], await stack.backendPids()];
  for (let i = 1; i <= windows; i++) {
    const perf =
      perfOut && i === 2
        ? spawn('perf', ['trace', '-s', '-o', perfOut, '-p', pids.join(',')], { stdio: 'ignore' })
        : undefined;
    const from = Date.now();
    const before = sumClasses(pids);
    const sysBefore = (await groups()).map(sumSys);
    const { run, cpu } = await turnstreamLoop(ctx, {
      concurrency,
      durationMs: windowMs,
      words: 40,
      delayMs: 0,
    });
    const after = sumClasses(pids);
    const gc = traceGc
      ? summarizeGc(
          stack.workers.flatMap((w) => w.gc),
          from,
          Date.now(),
        )
      : null;
    if (perf) {
      const exited = new Promise((r) => perf.once('exit', r));
      perf.kill('SIGINT');
      await exited;
      console.log(`(perf trace of window 2: ${run.completed} turns, in ${perfOut})`);
    }
    const sysAfter = (await groups()).map(sumSys);
    const perTurn = (f: (x: { sys: number; ctx: number }) => number) =>
      sysAfter.map((a, g) => ((f(a) - f(sysBefore[g]!)) / run.completed).toFixed(1)).join(' / ');
    const per = (s: number) => ((s * 1000) / run.completed).toFixed(2);
    const cls = ['main', 'v8-helpers', 'libuv-pool', 'other'].map((k) => (after[k] ?? 0) - (before[k] ?? 0));
    const kernel = (after.kernel ?? 0) - (before.kernel ?? 0);
    console.log(
      `${i}\t${run.turnsPerSec}\t${cls.map(per).join(' / ')} = ${per(cls.reduce((a, b) => a + b, 0))} (kernel ${per(kernel)})\t` +
        `${per(cpu.api!.cpuSeconds)} / ${per(cpu.postgres!.cpuSeconds)} / ${per(cpu.redis!.cpuSeconds)}\t` +
        `${perTurn((x) => x.sys)}\t${perTurn((x) => x.ctx)}`,
    );
    if (gc) {
      const per100 = (x: number) => ((x * 100) / run.completed).toFixed(1);
      console.log(
        `\tGC per 100 turns: ${per100(gc.scavenges)} scavenges (${per100(gc.scavengeMs)} ms), ` +
          `${per100(gc.markCompacts)} mark-compacts (${per100(gc.markCompactMs)} ms), ${per100(gc.promotedMb)} MB promoted`,
      );
    }
  }
});
