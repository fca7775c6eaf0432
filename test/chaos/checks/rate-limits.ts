import type { LoggedRequest } from '@turnstream/claude-sim';
import { GLOBAL_RETRY_AFTER_MS } from '../faults.ts';
import type { GateLog } from '../gate-log.ts';
import { info, type Row, row } from '../table.ts';
import type { CheckInput } from './context.ts';
import { IN_FLIGHT_GRACE_MS, isViolation, type JudgedRequest, judgeWindow } from './rate-window.ts';

/** A worker killed this long after a 429 was answered, having logged no gate closed, died before closing it. */
const KILLED_BEFORE_CLOSE_MS = 2000;

/** What the 429s' windows showed, gathered over every 429. */
interface Tally {
  early: string[];
  unclosed: string[];
  closeDelays: number[];
  judged: JudgedRequest[];
  killedFirst: number;
  redisAway: number;
}

/**
 * After a 429 with retry-after, the worker that got it closes the gate (its `claude.rate_gate_closed`
 * log, with the Redis time the close ran); from then no request reaches the simulator until
 * the retry-after, counted from the 429's answer, has passed, except one whose last gate check ran
 * before the close (it was on its way): the check each request carried, as the simulator recorded it,
 * decides (`judgeWindow`), for every request arriving after the 429 did (the close ran in Redis before
 * it was logged; without a check, only arrivals after the log line are judged). Every 429 closes the
 * gate, unless its worker was killed first or Redis was away (the worker logged it could not close it).
 */
export function rateLimitRows(input: CheckInput): Row[] {
  const retryAfter = new Map<string, number>();
  for (const o of input.messages) {
    for (const r of o.requests)
      if (o.sent.plan.fault?.retryAfterMs) retryAfter.set(r.requestId, o.sent.plan.fault.retryAfterMs);
  }
  const { requests, gate } = input.evidence;
  const limited = requests.filter((r) => r.status === 429);
  const tally: Tally = { early: [], unclosed: [], closeDelays: [], judged: [], killedFirst: 0, redisAway: 0 };
  for (const hit of limited) {
    const wait = Math.min(retryAfter.get(hit.requestId) ?? GLOBAL_RETRY_AFTER_MS, GLOBAL_RETRY_AFTER_MS);
    checkOne(hit, wait, requests, gate, tally);
  }
  return rowsOf(tally, limited.length, gate.heldAtSend);
}

/** One 429: did its gate close, and what arrived inside its window. */
function checkOne(hit: LoggedRequest, wait: number, requests: LoggedRequest[], gate: GateLog, tally: Tally) {
  const answered = Date.parse(hit.endTime ?? hit.time);
  const until = answered + wait;
  const got = gate.limited.get(hit.requestId);
  if (got?.closedAt === undefined) {
    const killed = gate.kills.some(
      (k) =>
        (got ? k.worker === got.worker : true) &&
        k.at >= answered &&
        k.at <= answered + KILLED_BEFORE_CLOSE_MS,
    );
    if (killed) tally.killedFirst++;
    else if (got?.closeFailed) tally.redisAway++;
    else
      tally.unclosed.push(
        `429 ${hit.requestId} answered ${hit.endTime} (${got ? `to ${got.worker}` : 'no worker logged it'})`,
      );
    return;
  }
  const closedAt = got.closedAt;
  tally.closeDelays.push(closedAt - answered);
  const limitedAt = Date.parse(hit.time);
  const earliestOpen = limitedAt + wait;
  const window = judgeWindow(
    { closedAtUs: got.closedAtUs, closedAt, limitedAt, until, earliestOpen },
    requests,
  );
  tally.judged.push(...window);
  const inside = window.filter((j) => isViolation(j.verdict));
  if (inside.length)
    tally.early.push(
      `429 ${hit.requestId} (retry-after ${wait} ms) answered ${hit.endTime}, gate closed by ${got.worker} +${
        closedAt - answered
      } ms: then ${inside.map((j) => described(j, closedAt - answered)).join(', ')}`,
    );
}

function rowsOf(tally: Tally, limited: number, heldAtSend: number): Row[] {
  const max = (xs: number[]) => (xs.length ? `${Math.max(...xs)} ms` : '-');
  const of = (verdict: JudgedRequest['verdict']) => tally.judged.filter((j) => j.verdict === verdict);
  const inFlight = of('in_flight').map((j) => j.lagMs ?? 0);
  const graced = of('within_grace').map((j) => j.afterCloseMs);
  return [
    row(
      `429s that closed no gate (${limited} 429s; excused: worker killed first ${tally.killedFirst}, Redis away ${tally.redisAway})`,
      tally.unclosed.length,
      0,
      tally.unclosed,
    ),
    row(`requests inside a 429's retry-after (${limited} 429s)`, tally.early.length, 0, tally.early),
    info('429 answered -> gate closed (max)', max(tally.closeDelays)),
    info(
      'requests on their way when the gate closed (checked before it, arrived after the 429; max check -> arrival)',
      `${inFlight.length} (${max(inFlight)})`,
    ),
    info(
      `requests with no gate check, within ${IN_FLIGHT_GRACE_MS} ms of the close (max)`,
      `${graced.length} (${max(graced)})`,
    ),
    info(
      'requests checked once the gate could open, arriving inside the window (429 answer stamped late)',
      of('checked_after_wait').length,
    ),
    info('requests held at the send (the gate closed after they passed it)', heldAtSend),
  ];
}

/** A request that broke a 429's window, for the table: when it arrived after the 429, and why. */
function described(j: JudgedRequest, closedAfterAnswerMs: number): string {
  const why =
    j.verdict === 'passed_closed_gate'
      ? `went past the closed gate (checked ${j.lagMs} ms before arriving)`
      : 'no gate check, past the grace';
  const afterAnswer = j.afterCloseMs + closedAfterAnswerMs;
  return `${j.requestId} ${afterAnswer < 0 ? '' : '+'}${afterAnswer} ms: ${why}`;
}
