import { type HeldCpuBudget, heldCpuBudget } from './lib/budget.ts';
import type { MachineFacts } from './lib/machine.ts';
import type { RuntimeName } from './lib/runtime.ts';
import type { FanoutResult, ResumePoint } from './scenarios/delivery.ts';
import type { FirstChunkPoint } from './scenarios/first-chunk.ts';
import type { HeldPoint } from './scenarios/held.ts';
import { type MarkerResult, renderMarker } from './scenarios/publish-marker.ts';
import type { SaturationPoint } from './scenarios/saturation.ts';

export interface BenchResults {
  date: string;
  profile: string;
  /** What the apps ran from (`lib/runtime.ts`); runs before it was recorded ran from source. */
  runtime?: RuntimeName;
  machine: MachineFacts;
  loadAverage: { start: number; end: number; samples: number[] };
  durationSec: number;
  scenarios: {
    firstChunk?: FirstChunkPoint[];
    held?: HeldPoint[];
    saturation?: SaturationPoint[];
    fanout?: FanoutResult;
    resume?: ResumePoint[];
    publishMarker?: MarkerResult;
  };
  targets: Target[];
  /** The committed run the "today's" targets compare with. */
  reference?: string;
}

export interface Target {
  name: string;
  goal: string;
  value: string;
  met: boolean | null;
}

const f = (x: number | null | undefined, digits = 1) => (x == null ? '–' : x.toFixed(digits));
const pair = (a: number | null | undefined, b: number | null | undefined) => `${f(a)} / ${f(b)}`;

/** A target met when `x` was measured and is at most `limit` (both in `unit`). */
function atMost(name: string, x: number | null | undefined, limit: number, unit: string): Target {
  return { name, goal: `<= ${limit} ${unit}`, value: `${f(x)} ${unit}`, met: x != null && x <= limit };
}

/** The direct SDK baseline's CPU (its client and the simulator), or null when not measured. */
const directTotal = (d: Record<string, number> | undefined) =>
  d?.client != null && d.sim != null ? d.client + d.sim : null;

/**
 * A CPU target "at most `limit` x the reference run's": met when the ratio holds after dividing each
 * run's figure by its own direct baseline's CPU; the plain ratio in milliseconds is shown too.
 */
export function cpuAgainstReference(
  name: string,
  limit: number,
  x: { now: number; nowDirect: number | null; ref: number; refDirect: number | null },
): Target {
  const absolute = x.now / x.ref;
  const normalised = x.nowDirect && x.refDirect ? x.now / x.nowDirect / (x.ref / x.refDirect) : null;
  const overDirect =
    normalised === null
      ? 'direct baseline not measured'
      : `over each run's direct SDK client + simulator: ${f(x.now / x.nowDirect!, 2)} x vs ${f(x.ref / x.refDirect!, 2)} x = ${f(normalised, 2)} x`;
  return {
    name,
    goal: `<= ${f(limit, 2)} x reference, each over its run's direct SDK CPU`,
    value: `${f(x.now, 2)} vs ${f(x.ref, 2)} ms (${f(absolute, 2)} x); ${overDirect}`,
    met: normalised === null ? null : normalised <= limit,
  };
}

/** The issue's targets, evaluated on `r` (and on `reference`, the committed run "today's" refers to). */
export function evaluateTargets(r: BenchResults, reference?: BenchResults): Target[] {
  const out: Target[] = [];
  const held = r.scenarios.held ?? [];
  const h500 = held.find((p) => p.streams === 500 && p.workers === 1);
  if (h500) {
    out.push(atMost('held 500, one worker: first-chunk overhead p50', h500.overheadMs.ttfcP50, 20, 'ms'));
    out.push(atMost('held 500, one worker: first-chunk overhead p99', h500.overheadMs.ttfcP99, 100, 'ms'));
    out.push(
      atMost('held 500, one worker: inter-chunk gap p99 over direct', h500.overheadMs.gapP99, 20, 'ms'),
    );
  }
  const h2000 = held.find((p) => p.streams === 2000 && p.workers === 1);
  if (h2000) {
    const rss = Math.max(...h2000.worker.peakRssMb);
    out.push({
      name: 'held 2,000, one worker: peak RSS',
      goal: '< 400 MB',
      value: `${f(rss)} MB`,
      met: rss < 400,
    });
    out.push(atMost('held 2,000, one worker: event-loop lag p99', h2000.worker.eventLoopLagP99Ms, 25, 'ms'));
    out.push({
      name: 'held 2,000, one worker: all completed',
      goal: '0 not completed',
      value: `${h2000.notCompleted} not completed`,
      met: h2000.notCompleted === 0,
    });
  }
  for (const p of held) {
    if (p.notCompleted > 0 && p !== h2000) {
      out.push({
        name: `held ${p.streams} on ${p.workers} worker(s): all completed`,
        goal: '0 not completed',
        value: `${p.notCompleted}`,
        met: false,
      });
    }
  }
  const two = held.find((p) => p.workers === 2);
  const one = two && held.find((p) => p.workers === 1 && p.streams === two.streams);
  if (two && one) {
    const slower =
      (two.turnstream.ttfcMs.p50 ?? Infinity) > (one.turnstream.ttfcMs.p50 ?? 0) * 1.1 + 5 ||
      (two.turnstream.ttfcMs.p99 ?? Infinity) > (one.turnstream.ttfcMs.p99 ?? 0) * 1.1 + 5;
    out.push({
      name: `held ${two.streams}: two workers not slower than one (first chunk p50/p99)`,
      goal: 'two <= one (+10%, +5 ms noise)',
      value: `two ${pair(two.turnstream.ttfcMs.p50, two.turnstream.ttfcMs.p99)} ms, one ${pair(one.turnstream.ttfcMs.p50, one.turnstream.ttfcMs.p99)} ms`,
      met: !slower,
    });
  }
  const sat = r.scenarios.saturation ?? [];
  const s1 = sat.find((p) => p.workers === 1);
  const s2 = sat.find((p) => p.workers === 2);
  if (s1 && s2) {
    out.push({
      name: 'saturation: two workers not slower than one',
      goal: 'turns/s two >= one (-10% noise)',
      value: `${f(s2.turnsPerSec)} vs ${f(s1.turnsPerSec)} turns/s`,
      met: s2.turnsPerSec >= s1.turnsPerSec * 0.9,
    });
  }
  if (s1) {
    out.push({
      name: 'saturation, one worker: turns/s over direct SDK streams/s',
      goal: '>= 0.5',
      value: f(s1.ratioToDirect, 2),
      met: s1.ratioToDirect !== null && s1.ratioToDirect >= 0.5,
    });
  }
  const fc1 = r.scenarios.firstChunk?.find((p) => p.concurrency === 1);
  if (fc1) {
    out.push(atMost('1 conversation, zero delay: first-chunk overhead p50', fc1.overheadMs.p50, 5, 'ms'));
  }
  const fan = r.scenarios.fanout;
  if (fan) {
    out.push({
      name: 'fan-out: Turnstream over resumable-stream (events/s)',
      goal: '> 1',
      value: f(fan.ratioToResumable, 2),
      met: fan.ratioToResumable !== null && fan.ratioToResumable > 1,
    });
  }
  // "At most half / a third of today's": against the committed reference run, each figure first
  // divided by the CPU of its own run's direct SDK client and simulator (runs on hosts of different
  // speed or load are compared that way; the absolute ratio is shown beside it).
  const refHeld = reference?.scenarios.held?.find((p) => p.streams === 500 && p.workers === 1);
  if (h500 && refHeld) {
    out.push(
      cpuAgainstReference('held 500: CPU per stream-second (API+worker+Postgres+Redis) vs reference', 0.5, {
        now: h500.cpuMsPerStreamSecond.turnstream!,
        nowDirect: directTotal(h500.directCpuMsPerStreamSecond),
        ref: refHeld.cpuMsPerStreamSecond.turnstream!,
        refDirect: directTotal(refHeld.directCpuMsPerStreamSecond),
      }),
    );
  }
  const refSat = reference?.scenarios.saturation?.find((p) => p.workers === 1);
  if (s1 && refSat) {
    out.push(
      cpuAgainstReference('saturation: CPU per turn (API+worker+Postgres+Redis) vs reference', 1 / 3, {
        now: s1.cpuMsPerTurn.turnstream!,
        nowDirect: directTotal(s1.directCpuMsPerTurn),
        ref: refSat.cpuMsPerTurn.turnstream!,
        refDirect: directTotal(refSat.directCpuMsPerTurn),
      }),
    );
  }
  return out;
}

const table = (head: string[], rows: string[][]) =>
  [
    `| ${head.join(' | ')} |`,
    `| ${head.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');

/** A scenario's section: its heading, then its table. */
const section = (heading: string, head: string[], rows: string[][]) => [heading, '', table(head, rows)];

const cpuCols = (c: Record<string, number>) =>
  `${f(c.api, 2)} / ${f(c.worker, 2)} / ${f(c.postgres, 2)} / ${f(c.redis, 2)} = **${f(c.turnstream, 2)}**`;

/** Stream-seconds of a held point (older results did not record them: derived from the worker's CPU). */
function streamSecondsOf(p: HeldPoint): number {
  return p.streamSeconds ?? ((p.cpuSeconds.worker ?? 0) / (p.cpuMsPerStreamSecond.worker ?? 1)) * 1000;
}

/** The host's CPU budget of a held point (see `lib/budget.ts`). */
export function heldBudgetOf(p: HeldPoint, cores: number): HeldCpuBudget {
  return heldCpuBudget(
    {
      cpuSeconds: p.cpuSeconds,
      directCpuSeconds: p.directCpuSeconds,
      turnstreamWallMs: p.turnstream.wallMs,
      directWallMs: p.direct.wallMs,
      streamSeconds: streamSecondsOf(p),
      workers: p.workers,
    },
    cores,
  );
}

function heldBudgetLines(held: HeldPoint[], cores: number): string[] {
  return [
    `Host CPU budget (${cores} cores): to deliver at the direct run's pace, all six processes (API, workers, ` +
      "Postgres, Redis, simulator, load client) must fit in the cores during the direct run's wall time. " +
      'Cores busy on average (Turnstream run / direct run), and the most CPU per stream-second ' +
      "Turnstream's four processes could use for that, after the simulator and the client, against what " +
      "they used; and each worker's busy share of one core (its turns share one JavaScript thread):",
    '',
    table(
      [
        'streams',
        'workers',
        'cores busy: Turnstream run / direct run',
        'ms per stream-s: budget / used',
        'worker thread busy',
      ],
      held.map((p) => {
        const b = heldBudgetOf(p, cores);
        return [
          String(p.streams),
          String(p.workers),
          `${f(b.coresUsed, 2)} / ${f(b.directCoresUsed, 2)}`,
          `${f(b.systemBudgetMsPerStreamSecond, 2)} / ${f(b.systemUsedMsPerStreamSecond, 2)}`,
          f(b.workerThreadBusy, 2),
        ];
      }),
    ),
    '',
  ];
}

const RUNTIME_NOTES: Record<RuntimeName, string> = {
  image:
    "The API, workers and simulator ran as the production image's bundled program (`node dist/main.js <program>`).",
  source: "The API, workers and simulator ran from their TypeScript under tsx's loader (`--runtime=source`).",
};

/** The run as markdown: machine facts, one table per scenario, the targets. */
export function renderMarkdown(r: BenchResults): string {
  const m = r.machine;
  const out: string[] = [
    `# Turnstream benchmark, ${r.date} (${r.profile} profile)`,
    '',
    `Commit \`${m.commit}\`${m.dirty ? ' (with uncommitted changes)' : ''}; ${m.cores} cores (${m.cpuModel}), ${m.memoryGb} GB; ` +
      `Node ${m.node}, PostgreSQL ${m.postgres}, Redis ${m.redis}; ${m.os}. ` +
      `Load average (1 min) ${r.loadAverage.start} at the start, ${r.loadAverage.end} at the end ` +
      `(max ${Math.max(...r.loadAverage.samples)}): other work shared the cores, so the ratios against the ` +
      `baselines measured in the same run are what count. Run time ${Math.round(r.durationSec)} s. ` +
      RUNTIME_NOTES[r.runtime ?? 'source'],
    '',
  ];
  const fc = r.scenarios.firstChunk;
  if (fc) {
    out.push(
      ...section(
        '## 1. Time to first chunk (zero-delay simulator, 40-word replies, closed loop, one worker)',
        [
          'conversations',
          'Turnstream p50 / p99 ms',
          'direct SDK p50 / p99 ms',
          'overhead p50 / p99 ms',
          'turns/s Turnstream / direct',
        ],
        fc.map((p) => [
          p.history ? `${p.concurrency} (follow-ups after ${p.history} exchanges)` : String(p.concurrency),
          pair(p.turnstream.ttfcMs.p50, p.turnstream.ttfcMs.p99),
          pair(p.direct.ttfcMs.p50, p.direct.ttfcMs.p99),
          pair(p.overheadMs.p50, p.overheadMs.p99),
          pair(p.turnstream.turnsPerSec, p.direct.turnsPerSec),
        ]),
      ),
      '',
    );
  }
  const held = r.scenarios.held;
  if (held) {
    out.push(
      ...section(
        '## 2. Held streams (20 tokens/s, one stream per conversation, posted over a few seconds)',
        [
          'streams',
          'workers',
          'first chunk p50 / p99 ms (direct)',
          'POST p50 / turn.started p50 ms',
          'gap p99 ms (direct)',
          'not completed',
          'worker peak RSS MB (KB/stream)',
          'worker loop lag p99 ms (worst 1 s)',
          'CPU ms per stream-s: API / worker / PG / Redis = total',
          'direct CPU ms/stream-s client / sim',
        ],
        held.map((p) => [
          String(p.streams),
          String(p.workers),
          `${pair(p.turnstream.ttfcMs.p50, p.turnstream.ttfcMs.p99)} (${pair(p.direct.ttfcMs.p50, p.direct.ttfcMs.p99)})`,
          pair(p.turnstream.postMs?.p50, p.turnstream.startedMs?.p50),
          `${f(p.turnstream.gapMs.p99)} (${f(p.direct.gapMs.p99)})`,
          String(p.notCompleted),
          `${p.worker.peakRssMb.map((x) => f(x, 0)).join(' + ')} (${p.worker.rssPerStreamKb})`,
          `${f(p.worker.eventLoopLagP99Ms)} (${f(p.worker.eventLoopWorstWindowP99Ms)})`,
          cpuCols(p.cpuMsPerStreamSecond),
          `${f(p.directCpuMsPerStreamSecond.client, 2)} / ${f(p.directCpuMsPerStreamSecond.sim, 2)}`,
        ]),
      ),
      '',
      ...heldBudgetLines(held, m.cores),
      "Turnstream's simulator CPU per stream-second for comparison: " +
        held.map((p) => `${p.streams}: ${f(p.cpuMsPerStreamSecond.sim, 2)}`).join(', ') +
        ' ms; its client: ' +
        held.map((p) => `${p.streams}: ${f(p.cpuMsPerStreamSecond.client, 2)}`).join(', ') +
        ' ms.',
      '',
    );
  }
  const sat = r.scenarios.saturation;
  if (sat) {
    out.push(
      ...section(
        '## 3. Saturation (zero-delay simulator, 40-word replies, closed loop)',
        [
          'workers',
          'concurrency',
          'Turnstream turns/s',
          'direct SDK streams/s',
          'BullMQ no-op jobs/s',
          'ratio to direct',
          'CPU ms per turn: API / worker / PG / Redis = total',
          'direct CPU ms/stream client / sim',
        ],
        sat.map((p) => [
          String(p.workers),
          String(p.concurrency),
          f(p.turnsPerSec),
          f(p.directStreamsPerSec),
          f(p.bullmq.jobsPerSec),
          f(p.ratioToDirect, 2),
          cpuCols(p.cpuMsPerTurn),
          `${f(p.directCpuMsPerTurn.client, 2)} / ${f(p.directCpuMsPerTurn.sim, 2)}`,
        ]),
      ),
      '',
    );
  }
  const fan = r.scenarios.fanout;
  if (fan) {
    out.push(
      ...section(
        `## 4. Fan-out (${fan.conversations} conversations x ${fan.clientsPerConversation} SSE clients, ${fan.eventsPerConversation} chunk events each, published one at a time)`,
        [
          'path',
          'events/s to SSE clients',
          'delivered / expected',
          'CPU s (server / publisher / Redis / clients)',
        ],
        fan.runs.map((run) => [
          run.mode === 'turnstream'
            ? 'Turnstream (streams + API)'
            : run.mode === 'raw'
              ? 'raw Redis PUBLISH + relay'
              : 'resumable-stream + relay',
          String(run.eventsPerSec),
          `${run.delivered} / ${run.expected}`,
          `${f(run.cpuSeconds.api ?? run.cpuSeconds.relay, 2)} / ${f(run.cpuSeconds.publisher, 2)} / ${f(run.cpuSeconds.redis, 2)} / ${f(run.cpuSeconds.client, 2)}`,
        ]),
      ),
      '',
      `Turnstream / raw: ${f(fan.ratioToRaw, 2)}; Turnstream / resumable-stream: ${f(fan.ratioToResumable, 2)}.`,
      '',
    );
  }
  const res = r.scenarios.resume;
  if (res) {
    out.push(
      ...section(
        '## 5. Resume (reconnect after N missed events: time to the N-th event)',
        [
          'missed events',
          'Turnstream (Last-Event-ID) p50 / max ms',
          'resumable-stream p50 / max ms',
          'ratio (p50)',
        ],
        res.map((p) => [
          String(p.missed),
          pair(p.turnstreamMs.p50, p.turnstreamMs.max),
          pair(p.resumableMs.p50, p.resumableMs.max),
          f(p.ratio, 2),
        ]),
      ),
      '',
    );
  }
  // One batch record per held stream, whatever its length.
  if (r.scenarios.publishMarker) out.push(...renderMarker(r.scenarios.publishMarker, 500));
  if (r.targets.length) {
    out.push(
      `## Targets${r.reference ? ` (reference run for "today's": ${r.reference})` : ''}`,
      '',
      table(
        ['target', 'goal', 'measured', 'met'],
        r.targets.map((t) => [t.name, t.goal, t.value, t.met === null ? '–' : t.met ? 'yes' : '**no**']),
      ),
      '',
    );
  }
  return out.join('\n');
}
