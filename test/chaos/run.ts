import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seededRandom, waitFor } from '@turnstream/testkit';
import { observe } from './checks/context.ts';
import { orderRows } from './checks/order.ts';
import { outcomeRows } from './checks/outcomes.ts';
import { rateLimitRows } from './checks/rate-limits.ts';
import { replyRows } from './checks/replies.ts';
import { sessionRows } from './checks/sessions.ts';
import { ChaosCluster } from './cluster.ts';
import { LoadDriver } from './driver.ts';
import { gatherEvidence } from './evidence.ts';
import { FaultScheduler } from './faults.ts';
import { expectedReplies } from './oracle.ts';
import { planLoad } from './plan.ts';
import type { ChaosProfile } from './profile.ts';
import { formatTable, info, type Row } from './table.ts';

export interface ChaosResult {
  rows: Row[];
  table: string;
  /** Process logs and the simulator's journal (kept when a check failed). */
  dir: string;
}

/** Run the load under faults, then check what happened. Every process is stopped before it returns. */
export async function runChaos(profile: ChaosProfile, seed: number): Promise<ChaosResult> {
  const dir = mkdtempSync(join(tmpdir(), `chaos-${profile.name}-${seed}-`));
  const rnd = seededRandom(seed);
  // Separate streams: the plan does not shift when the fault schedule draws more or fewer numbers.
  const plans = planLoad(seededRandom(rnd.int(0, 2 ** 31)), profile);
  const faultRnd = seededRandom(rnd.int(0, 2 ** 31));
  const paceRnd = seededRandom(rnd.int(0, 2 ** 31));
  const startedAt = Date.now();
  const cluster = await ChaosCluster.start(profile, dir);
  let driver: LoadDriver | undefined;
  try {
    const rules = plans.flatMap((c) =>
      c.messages.flatMap(({ fault, tag }) =>
        fault ? [{ ...fault, kind: undefined, match: { contains: tag } }] : [],
      ),
    );
    if (rules.length) await cluster.simPost('/__sim/faults', { rules });
    driver = new LoadDriver(cluster, plans, paceRnd, profile.activeConversations);
    const faults = new FaultScheduler(
      cluster,
      faultRnd,
      profile,
      () => driver!.progress(),
      join(dir, 'faults.log'),
    );
    faults.start();
    try {
      await driver.run();
    } finally {
      await faults.stop();
    }
    const loadMs = Date.now() - startedAt;
    const ids = driver.sent.map((s) => s.id);
    await waitFor(
      async () => {
        const [final] = await cluster.sys.tdb.sql<{ n: number }[]>`
          select count(*)::int as n from messages
          where id = any(${ids}::uuid[]) and status in ('completed', 'failed', 'cancelled')`;
        return final?.n === ids.length;
      },
      {
        timeoutMs: profile.drainTimeoutMs,
        intervalMs: 1000,
        message: 'every message to reach a final state',
      },
    ).catch(() => undefined); // what did not finish is reported by the checks
    const conversations = [...driver.followers.keys()];
    // The SSE clients get a moment to see the last terminal events published after the final commits.
    await waitFor(
      () => driver!.sent.every((s) => driver!.followers.get(s.conversationId)!.events(s.id).length > 0),
      {
        timeoutMs: 10_000,
      },
    ).catch(() => undefined);
    const evidence = await gatherEvidence(cluster, conversations);
    const expected = await expectedReplies(new Map(driver.sent.map((s) => [s.id, s.plan.content])));
    const input = observe(driver.sent, evidence, driver.followers, expected, driver.resets);
    const planned = plans.reduce((n, c) => n + c.messages.length, 0);
    const journalFaults = new Map<string, number>();
    for (const r of evidence.requests)
      if (r.fault) journalFaults.set(r.fault, (journalFaults.get(r.fault) ?? 0) + 1);
    const c = cluster.counts;
    const rows: Row[] = [
      ...outcomeRows(input, planned),
      ...replyRows(input),
      ...orderRows(input),
      ...sessionRows(input),
      ...rateLimitRows(input),
      info('fault: workers SIGKILLed (each replaced)', c.workerKills),
      info('fault: workers SIGSTOPped past their lease, then SIGCONTed', c.workerPauses),
      info('fault: Redis crashed and restarted (AOF)', c.redisRestarts),
      info(
        'fault: every database connection terminated',
        `${c.postgresKills}x (${c.postgresConnectionsKilled} connections)`,
      ),
      info('fault: signing-key rotations', c.signingKeyRotations),
      info('fault: simulator faults struck', [...journalFaults].map(([k, v]) => `${k} ${v}`).join(', ')),
      info('fault: resets during a streaming turn', driver.resets.length),
      info('fault: cancels', driver.sent.filter((s) => s.cancel).length),
      info('simulator requests', evidence.requests.length),
      info('sends retried (API or Redis down)', driver.retriedSends),
      info(
        'SSE reconnects',
        input.followers.reduce((n, f) => n + f.connections - 1, 0),
      ),
      info(
        'load / total time',
        `${Math.round(loadMs / 1000)} s / ${Math.round((Date.now() - startedAt) / 1000)} s`,
      ),
    ];
    const title = `Chaos run: profile ${profile.name}, seed ${seed}, ${profile.workers} workers, ${planned} messages`;
    const table = formatTable(title, rows);
    writeFileSync(join(dir, 'table.md'), `${table}\n`);
    return { rows, table, dir };
  } finally {
    await driver?.close();
    await cluster.stop();
  }
}

/** Delete a run's directory (after a run whose checks all passed). */
export function removeRunDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
